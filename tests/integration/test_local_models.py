"""Local models through the whole graph on vLLM's CPU build (skipped where vLLM is absent).

`workhorse` is served by the tiny random-weight Llama standing in for the directory's MoE (its
text is gibberish, and every answer says so); `embed` by the real all-MiniLM-L6-v2, configured to
scale to zero.
"""

from __future__ import annotations

import math
import time

import openai
import pytest

from tests.integration.conftest import SCALE_TO_ZERO, Switchyard, serve_details

pytest.importorskip("vllm")
pytestmark = [pytest.mark.ray, pytest.mark.vllm]


def client(switchyard: Switchyard) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{switchyard.url}/v1", api_key=switchyard.admin_key, max_retries=0
    )


def deployment(switchyard: Switchyard, model_id: str) -> dict[str, object]:
    name = f"local-{model_id.split('/', 1)[1]}"
    app = serve_details(switchyard.dashboard_url)["applications"]["switchyard"]
    return dict(app["deployments"][name])


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_the_autoscaling_config_reaches_serve_and_embed_comes_up_from_zero(
    switchyard: Switchyard,
) -> None:
    embed = switchyard.directory.resolved["embed"]
    config = deployment(switchyard, embed)["deployment_config"]
    scaling = config["autoscaling_config"]  # type: ignore[index]
    assert {k: scaling[k] for k in SCALE_TO_ZERO} == SCALE_TO_ZERO
    assert deployment(switchyard, embed)["replicas"] == []  # scaled to zero

    vectors = client(switchyard).embeddings.create(model="embed", input=["wake up"]).data
    assert len(vectors[0].embedding) == 384
    deadline = time.monotonic() + 60
    while deployment(switchyard, embed)["replicas"] == [] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert deployment(switchyard, embed)["replicas"] != []

    workhorse = switchyard.directory.resolved["workhorse"]
    scaling = deployment(switchyard, workhorse)["deployment_config"]["autoscaling_config"]  # type: ignore[index]
    assert (scaling["min_replicas"], scaling["max_replicas"]) == (1, 1)


def test_real_embeddings_from_embed(switchyard: Switchyard) -> None:
    sentences = [
        "The cat sat on the mat.",
        "A cat was sitting on the mat.",
        "Quarterly revenue grew by twelve percent.",
    ]
    data = client(switchyard).embeddings.create(model="embed", input=sentences).data
    vectors = [item.embedding for item in data]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert cosine(vectors[0], vectors[0]) == pytest.approx(1.0, abs=1e-5)
    paraphrase, unrelated = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert paraphrase > unrelated + 0.3


def test_workhorse_answers_and_streams_on_the_tiny_model(switchyard: Switchyard) -> None:
    messages = [{"role": "user", "content": "Summarise: the gateway routes calls."}]
    raw = client(switchyard).chat.completions.with_raw_response.create(
        model="workhorse", messages=messages, max_tokens=16, temperature=0
    )
    whole = raw.parse()
    assert whole.model == switchyard.directory.resolved["workhorse"]
    assert "gibberish" in raw.headers["x-switchyard-notice"]  # labelled wherever it answers
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    assert whole.choices[0].message.content

    chunks = list(
        client(switchyard).chat.completions.create(
            model="workhorse", messages=messages, max_tokens=16, temperature=0, stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content  # greedy decoding: the same text
