"""Bad input gets a clear 4xx in OpenAI's error shape, never a 5xx (issue 12, item 1): the HTTP
API at the ASGI level, over the fixture directory (windows of 8192 tokens, outputs of 1024, no
vision), with the limits of `serve_app.surfaces.limits`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.routing.gateway import Gateway
from serve_app.surfaces.http_api import HttpApi
from serve_app.surfaces.limits import RequestLimits
from tests.malformed_bodies import malformed_bodies
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends
from tests.serve_app.surfaces.test_http_api import QuietReplica

JSON = {"content-type": "application/json"}
SIX = malformed_bodies("smart", without_vision="smart")


def app_client(
    limits: RequestLimits | None = None, *, down: frozenset[str] = frozenset()
) -> httpx.AsyncClient:
    health = RecordingHealth(down=set(down))
    gateway = Gateway(mini_directory(), ScriptedBackends(), health, RecordingLedger())
    transport = httpx.ASGITransport(app=HttpApi(gateway, QuietReplica(), limits).asgi_app())
    return httpx.AsyncClient(transport=transport, base_url="http://switchyard")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with app_client() as client:
        yield client


def chat(content: object = "hi", **fields: object) -> dict[str, object]:
    return {"model": "smart", "messages": [{"role": "user", "content": content}], **fields}


def error_of(response: httpx.Response) -> dict[str, object]:
    error = response.json()["error"]
    assert isinstance(error, dict) and isinstance(error["message"], str)
    return error


@pytest.mark.parametrize("name", list(SIX))
async def test_each_body_that_once_got_a_5xx_gets_its_4xx_naming_why(
    client: httpx.AsyncClient, name: str
) -> None:
    malformed = SIX[name]
    response = await client.post("/v1/chat/completions", content=malformed.body, headers=JSON)
    assert response.status_code == malformed.status, response.text
    assert malformed.named in str(error_of(response)["message"])


async def test_a_streamed_call_gets_the_same_4xx(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=chat(max_tokens=10**12, stream=True))
    assert response.status_code == 400
    assert error_of(response)["type"] == "NoCandidateFits"


async def test_a_body_over_the_limit_is_a_413_before_it_is_read_whole() -> None:
    async with app_client(RequestLimits(max_body_bytes=1000)) as client:
        response = await client.post("/v1/chat/completions", json=chat("a" * 2000))
        assert response.status_code == 413
        assert "1000 bytes" in str(error_of(response)["message"])

        async def pieces() -> AsyncIterator[bytes]:  # no Content-Length: chunked
            yield json.dumps(chat("a" * 500)).encode()
            yield b" " * 1000

        chunked = await client.post("/v1/chat/completions", content=pieces(), headers=JSON)
        assert chunked.status_code == 413


@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
async def test_a_body_that_is_not_json_by_its_media_type_is_a_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    """A web page can post a form to a gateway on localhost with no CORS preflight: it must not
    reach a model (and spend)."""
    headers = {} if content_type is None else {"content-type": content_type}
    body = json.dumps(chat()).encode()
    for route in ("/v1/chat/completions", "/v1/embeddings"):
        response = await client.post(route, content=body, headers=headers)
        assert response.status_code == 415, response.text
        assert "application/json" in str(error_of(response)["message"])


async def test_json_with_a_charset_is_json(client: httpx.AsyncClient) -> None:
    body = json.dumps(chat()).encode()
    headers = {"content-type": "Application/JSON; charset=utf-8"}
    response = await client.post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_nesting_past_the_depth_limit_is_a_400_even_where_python_could_parse_it() -> None:
    async with app_client(RequestLimits(max_json_depth=10)) as client:
        deep: object = "leaf"
        for _ in range(12):
            deep = {"a": deep}
        response = await client.post("/v1/chat/completions", json=chat(metadata=deep))
        assert response.status_code == 400
        assert "nested deeper than 10 levels" in str(error_of(response)["message"])
        shallow = await client.post("/v1/chat/completions", json=chat(metadata={"a": {"b": 1}}))
        assert shallow.status_code == 200


async def test_the_depth_limit_holds_at_its_edge_and_brackets_in_text_do_not_count() -> None:
    # The Ingress skips walking a body with no more `{`/`[` than the limit: check both sides of
    # that shortcut. chat() alone is 3 levels (body, messages, a message) behind 3 brackets.
    async with app_client(RequestLimits(max_json_depth=5)) as client:
        plain = await client.post("/v1/chat/completions", json=chat())
        assert plain.status_code == 200, plain.text
        # 5 levels behind 7 brackets: walked, and at the limit.
        five = {"a": {"b": {"c": {"d": 1}}}}
        at_limit = await client.post("/v1/chat/completions", json=chat(metadata=five))
        assert at_limit.status_code == 200, at_limit.text
        past = await client.post("/v1/chat/completions", json=chat(metadata={"x": five}))
        assert past.status_code == 400
        assert "nested deeper than 5 levels" in str(error_of(past)["message"])
        brackets = await client.post("/v1/chat/completions", json=chat("[[[{{{ text }}}]]]" * 5))
        assert brackets.status_code == 200, brackets.text


async def test_too_many_messages_or_too_long_a_message_is_a_400_naming_the_field() -> None:
    async with app_client(RequestLimits(max_messages=3, max_content_chars=100)) as client:
        many = {"model": "smart", "messages": [{"role": "user", "content": "hi"}] * 4}
        response = await client.post("/v1/chat/completions", json=many)
        assert response.status_code == 400
        assert error_of(response)["param"] == "messages"
        assert "4 messages, over the limit of 3" in str(error_of(response)["message"])

        response = await client.post("/v1/chat/completions", json=chat("a" * 101))
        assert response.status_code == 400
        assert error_of(response)["param"] == "messages.0.content"

        embeddings = await client.post(
            "/v1/embeddings", json={"model": "smart", "input": ["a", "b", "c", "d"]}
        )
        assert embeddings.status_code == 400
        assert "4 inputs" in str(error_of(embeddings)["message"])


async def test_a_prompt_over_every_window_is_openais_context_length_exceeded(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/chat/completions", json=chat("word " * 40_000))
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"]) == ("NoCandidateFits", "context_length_exceeded")
    assert "context window 8192" in str(error["message"])


async def test_tools_for_a_chain_without_them_are_a_400_naming_the_feature() -> None:
    no_tools = {"tools": False, "json_schema": True, "vision": False, "streaming": True}
    directory = mini_directory(
        **{model: {"features": no_tools} for model in ("alpha/a1", "beta/b1", "local/l1")}
    )
    gateway = Gateway(directory, ScriptedBackends(), RecordingHealth(), RecordingLedger())
    transport = httpx.ASGITransport(app=HttpApi(gateway, QuietReplica()).asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        tools = [{"type": "function", "function": {"name": "get_weather"}}]
        response = await client.post("/v1/chat/completions", json=chat(tools=tools))
    assert response.status_code == 400
    skipped = error_of(response)["switchyard"]
    assert isinstance(skipped, dict)
    assert {s["reason"] for s in skipped["skipped"]} == {"no tool calling"}


async def test_no_candidate_because_every_breaker_is_open_is_still_a_503() -> None:
    async with app_client(down=frozenset({"alpha", "beta", "local"})) as client:
        response = await client.post("/v1/chat/completions", json=chat())
    assert response.status_code == 503
    assert error_of(response)["type"] == "NoCandidates"
