"""A learned shortcut through the gateway (no Ray): the router's choice heads the chain, the
decision is in the route, and a router that cannot decide sends the call to the fallback.

A fixed 4-dimension artifact: P(cheap does as well) = sigmoid(4·x0 − 4·x1), threshold 0.5. The
scripted embed model gives [1,0,0,0] for a prompt with "easy" in it and [0,1,0,0] otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from deployments.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Message
from deployments.errors import ProviderUnavailable
from directory.loader import directory_from_dicts
from directory.routers import FORMAT, RouterArtifact, decide
from directory.schema import Directory
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from tests.mini_directory import chat_model, provider
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends, server_error

EASY, HARD = [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]


def artifact(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "embedding_model": "local/e1",
        "dimensions": 4,
        "max_chars": 20,
        "target_quality": 0.95,
        "steps": [{"weights": [4.0, -4.0, 0.0, 0.0], "bias": 0.0, "threshold": 0.5}],
        "training": {
            "source": "test fixture",
            "strong_column": "strong",
            "weak_columns": ["weak"],
            "rows": 2,
            "trained_on": "2026-12-06",
            "strong_share": 0.5,
            "quality": 1.0,
        },
    }
    data.update(changes)
    return data


def embedding_model(mid: str, backup: str, secondary: str) -> dict[str, Any]:
    return {
        **chat_model(mid, backup, secondary),
        "kind": "embedding",
        "embedding_dimensions": 4,
        "max_output_tokens": None,
        "scores": None,
        "modalities": {"input": ["text"], "output": ["embedding"]},
        "features": {"tools": False, "json_schema": False, "vision": False, "streaming": False},
        "latency": {"ttft_ms": 10, "output_tokens_per_s": None, "source": "test fixture"},
    }


def learned_directory(**learned: Any) -> Directory:
    """alpha/a1 is cheap (backup beta/b1), beta/b1 strong; `qa` learns between them."""
    block = {
        "models": ["alpha/a1", "beta/b1"],
        "router": "routers/qa.json",
        "fallback": "beta/b1",
        "embed_deadline_ms": 50,
        "artifact": artifact(),
        **learned,
    }
    return directory_from_dicts(
        [
            provider("alpha", "openai"),
            provider("beta", "anthropic"),
            provider("local", "vllm", "local"),
        ],
        [
            chat_model("alpha/a1", "beta/b1", "alpha/g1", pricing=price(0.1)),
            chat_model("beta/b1", "alpha/a1", "alpha/g1", pricing=price(5.0)),
            chat_model("alpha/g1", "alpha/a1", "beta/b1", pricing=price(1.0)),
            embedding_model("local/e1", "local/e2", "local/e3"),
            embedding_model("local/e2", "local/e1", "local/e3"),
            embedding_model("local/e3", "local/e1", "local/e2"),
        ],
        [{"name": "qa", "description": "per prompt", "learned": block}],
    )


def price(usd: float) -> dict[str, Any]:
    return {"input": usd, "output": usd, "source": "test fixture"}


@dataclass
class EmbeddingBackends(ScriptedBackends):
    """Scripted chat models, and an embed model that reads "easy" in a prompt."""

    embed_hangs: bool = False
    embedded: list[str] = field(default_factory=list)

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        self.embedded += request.inputs
        if self.embed_hangs:
            await asyncio.sleep(3600)
        self._maybe_fail(candidate)
        vector = EASY if "easy" in request.inputs[0] else HARD
        return EmbeddingResult(vectors=[vector], provider_model=request.model)


def ask(text: str, name: str = "qa") -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content=text)])
    return ChatCall(name=name, request=request, options=CallOptions())


def gateway(backends: ScriptedBackends, directory: Directory | None = None) -> Gateway:
    return Gateway(directory or learned_directory(), backends, RecordingHealth(), RecordingLedger())


# --- the decision itself ------------------------------------------------------------------------


def test_decide_takes_the_cheapest_model_whose_chance_clears_its_threshold() -> None:
    router = RouterArtifact.model_validate(artifact())
    easy, hard = decide(EASY, router), decide(HARD, router)
    assert (easy.index, hard.index) == (0, 1)
    assert easy.probability == pytest.approx(0.982, abs=1e-3)
    assert hard.probability == pytest.approx(0.018, abs=1e-3)
    assert easy.threshold == hard.threshold == 0.5


def test_decide_walks_a_set_cheapest_first() -> None:
    never = {"weights": [0.0] * 4, "bias": 0.0, "threshold": 2.0}  # no chance reaches 2
    always = {"weights": [0.0] * 4, "bias": 0.0, "threshold": 0.0}
    router = RouterArtifact.model_validate(artifact(steps=[never, always]))
    assert decide(HARD, router).index == 1
    router = RouterArtifact.model_validate(artifact(steps=[never, never]))
    choice = decide(HARD, router)
    assert choice.index == 2 and choice.probability == 0.5 and choice.threshold == 2.0


def test_a_vector_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="a 3-dimension vector for a 4-d router"):
        decide([1.0, 0.0, 0.0], RouterArtifact.model_validate(artifact()))


# --- through the gateway ------------------------------------------------------------------------


async def test_an_easy_prompt_goes_to_the_cheap_model_with_the_decision_in_the_route() -> None:
    backends = EmbeddingBackends()
    answer = await gateway(backends).complete(ask("an easy question, long enough to be cut"))
    route = answer.route
    assert (route.model, route.shortcut) == ("alpha/a1", "qa")
    assert route.decision is not None
    assert route.decision.model == "alpha/a1"
    assert route.decision.probability == pytest.approx(0.982, abs=1e-3)
    assert (route.decision.threshold, route.decision.fallback_reason) == (0.5, None)
    assert backends.embedded == ["an easy question, lo"]  # the artifact's max_chars: 20


async def test_a_hard_prompt_goes_to_the_strong_model() -> None:
    answer = await gateway(EmbeddingBackends()).complete(ask("prove the theorem"))
    assert answer.route.model == "beta/b1"
    assert answer.route.decision is not None and answer.route.decision.model == "beta/b1"
    assert answer.route.decision.probability == pytest.approx(0.018, abs=1e-3)


async def test_the_chosen_models_backup_chain_fails_over() -> None:
    backends = EmbeddingBackends(failures={"alpha/a1": [server_error("alpha")]})
    answer = await gateway(backends).complete(ask("an easy one"))
    assert [a.model for a in answer.route.attempts] == ["alpha/a1", "beta/b1"]
    assert answer.route.model == "beta/b1"
    assert answer.route.decision is not None and answer.route.decision.model == "alpha/a1"


async def test_a_stream_is_decided_the_same_way() -> None:
    streamed = gateway(EmbeddingBackends()).stream(ask("easy"))
    text = "".join([chunk.text async for chunk in streamed if chunk.text])
    assert text == "hello from a1"
    assert streamed.route.decision is not None and streamed.route.decision.model == "alpha/a1"


@pytest.mark.parametrize(
    ("backends", "reason"),
    [
        (EmbeddingBackends(embed_hangs=True), "embed model local/e1 gave no vector within 50 ms"),
        (
            EmbeddingBackends(
                failures={"local/e1": [ProviderUnavailable("down", provider="local")]}
            ),
            "embed model local/e1 failed: ProviderUnavailable",
        ),
        (EmbeddingBackends(undeployed={"local/e1"}), "embed model local/e1 is not deployed here"),
    ],
    ids=["slow", "failing", "not-deployed"],
)
async def test_an_embed_model_that_cannot_answer_sends_the_call_to_the_fallback(
    backends: EmbeddingBackends, reason: str
) -> None:
    answer = await gateway(backends).complete(ask("an easy one"))
    assert answer.route.model == "beta/b1"
    decision = answer.route.decision
    assert decision is not None
    assert (decision.model, decision.fallback_reason) == ("beta/b1", reason)
    assert decision.probability is None


async def test_vectors_of_the_wrong_size_send_the_call_to_the_fallback() -> None:
    @dataclass
    class WrongSize(EmbeddingBackends):
        async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
            return EmbeddingResult(vectors=[[1.0, 0.0]], provider_model=request.model)

    answer = await gateway(WrongSize()).complete(ask("an easy one"))
    assert answer.route.decision is not None
    assert answer.route.decision.fallback_reason == "embed model local/e1 gave 2 dimensions, not 4"
    assert answer.route.model == "beta/b1"


async def test_the_last_user_turn_is_what_is_judged() -> None:
    backends = EmbeddingBackends()
    messages = [
        Message(role="system", content="be easy on them"),
        Message(role="user", content="prove it"),
    ]
    request = ChatRequest(model="", messages=messages)
    answer = await gateway(backends).complete(ChatCall(name="qa", request=request))
    assert backends.embedded == ["prove it"]
    assert answer.route.model == "beta/b1"


async def test_a_model_id_is_not_decided() -> None:
    backends = EmbeddingBackends()
    answer = await gateway(backends).complete(ask("easy", name="alpha/a1"))
    assert answer.route.decision is None and backends.embedded == []
