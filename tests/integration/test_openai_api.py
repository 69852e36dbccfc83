"""The official OpenAI SDK, pointed at Switchyard, works unchanged (design §7)."""

from __future__ import annotations

import httpx
import openai
import pytest

from serve_app.app.builder import APP_NAME
from tests.integration.conftest import Switchyard
from tests.malformed_bodies import malformed_bodies

pytestmark = pytest.mark.ray


def client(switchyard: Switchyard) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{switchyard.url}/v1", api_key=switchyard.admin_key, max_retries=0
    )


def test_a_shortcut_answers_with_usage_and_says_which_model_served(
    sandbox_reset: Switchyard,
) -> None:
    answer = client(sandbox_reset).chat.completions.with_raw_response.create(
        model="smart", messages=[{"role": "user", "content": "Hello there, gateway"}]
    )
    completion = answer.parse()
    smart = sandbox_reset.directory.resolve("smart")
    assert completion.model == smart.id
    assert answer.headers["x-switchyard-model"] == smart.id
    assert answer.headers["x-switchyard-provider"] == smart.provider
    assert completion.choices[0].message.content
    assert (
        completion.usage is not None and completion.usage.prompt_tokens == 3
    )  # sandbox: a token is a word
    assert completion.usage.completion_tokens > 0
    assert sandbox_reset.requests_received(smart.id) == 1


def test_a_model_id_streams_the_same_text_as_it_answers(sandbox_reset: Switchyard) -> None:
    model_id = "openai/gpt-6-luna"
    assert model_id in sandbox_reset.directory.models
    messages = [{"role": "user", "content": "Tell me about routing"}]
    whole = client(sandbox_reset).chat.completions.create(model=model_id, messages=messages)
    chunks = list(
        client(sandbox_reset).chat.completions.create(
            model=model_id, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert {c.model for c in chunks if c.choices} == {model_id}


def test_models_lists_every_shortcut_and_model(switchyard: Switchyard) -> None:
    listed = client(switchyard).models.list().data
    kinds = [m.model_extra["switchyard"]["kind"] for m in listed]  # type: ignore[index]
    assert kinds.count("shortcut") == 25
    assert len(listed) - kinds.count("shortcut") == 53
    assert {m.id for m in listed} >= {"smart", "fast", "workhorse", "embed", "openai/gpt-6-luna"}


def test_unknown_model_is_a_404_naming_the_closest(switchyard: Switchyard) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(switchyard).chat.completions.create(
            model="smrt", messages=[{"role": "user", "content": "hi"}]
        )
    assert "did you mean 'smart'" in str(caught.value)


def test_a_malformed_body_is_a_400_naming_the_field(switchyard: Switchyard) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(switchyard).chat.completions.create(model="smart", messages=[])
    assert "messages" in str(caught.value)


def test_the_six_malformed_bodies_of_issue_12_each_get_their_4xx(switchyard: Switchyard) -> None:
    """Through Serve's proxy to the real app: each once got a 5xx (issue 12)."""
    for name, malformed in malformed_bodies("fast", without_vision="workhorse").items():
        response = httpx.post(
            f"{switchyard.url}/v1/chat/completions",
            content=malformed.body,
            headers={"content-type": "application/json", **switchyard.admin_headers},
            timeout=60,
        )
        assert response.status_code == malformed.status, (name, response.text)
        assert malformed.named in response.json()["error"]["message"], name


def test_a_form_post_from_a_web_page_is_refused_before_it_can_spend(
    switchyard: Switchyard,
) -> None:
    response = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        data={"model": "fast", "messages": "hi"},  # what an HTML form sends, no preflight
        headers=switchyard.admin_headers,
        timeout=60,
    )
    assert response.status_code == 415


def test_each_ingress_replica_also_answers_on_its_own_loopback_port(switchyard: Switchyard) -> None:
    """Direct ingress (on for the session's cluster, as `switchyard serve` starts it): every
    Ingress replica serves the same API itself, one hop shorter than Serve's proxy (the front
    door `switchyard serve` prints reaches them; tests/integration/test_front_door.py)."""
    from serve_app.dev.local_cluster import ingress_urls

    urls = ingress_urls(APP_NAME)
    assert len(urls) == switchyard.app_args.ingress.num_replicas == 2
    for url in urls:
        assert url.startswith("http://127.0.0.1:") and url != switchyard.url
        direct = openai.OpenAI(base_url=f"{url}/v1", api_key=switchyard.admin_key, max_retries=0)
        answer = direct.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "straight to the replica"}]
        )
        assert answer.model == switchyard.directory.resolve("fast").id
