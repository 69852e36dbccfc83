"""The HTTP API at the ASGI level: the Ingress's own FastAPI app, around a gateway over scripted
in-process backends, driven by httpx's ASGI transport. No Ray; the cluster tests
(tests/integration/test_openai_api.py) cover the same routes end to end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from deployments.errors import AllCandidatesFailed, SwitchyardError
from directory.schema import Directory
from serve_app.client import ChatStream, GatewayError, _HTTPTransport, make_call
from serve_app.routing.call import route_of
from serve_app.routing.gateway import Gateway
from serve_app.surfaces.http_api import HttpApi
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import (
    RecordingHealth,
    RecordingLedger,
    ScriptedBackends,
    server_error,
)

MESSAGES = [{"role": "user", "content": "hi there"}]
JSON = {"content-type": "application/json"}
EVERY_CANDIDATE_OF_SMART = ("alpha/a1", "beta/b1", "local/l1")


@dataclass
class QuietReplica:
    """The replica's side jobs (background loops, the ledger's spend, breaker states): idle."""

    started: int = 0
    spent: list[dict[str, Any]] = field(default_factory=list)

    def ensure_started(self) -> None:
        self.started += 1

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]:
        return [{"provider": provider, "state": "closed"} for provider in directory.providers]

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]:
        if "planet" in group_by:
            raise ValueError("cannot group by planet")
        return self.spent

    async def allowances(self) -> list[dict[str, Any]]:
        return [{"kind": "budget", "key": "acme"}, {"kind": "free_tier", "key": "alpha/free"}]


@pytest.fixture
def backends() -> ScriptedBackends:
    return ScriptedBackends()


@pytest.fixture
def api(backends: ScriptedBackends) -> HttpApi:
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), RecordingLedger())
    return HttpApi(gateway, QuietReplica())


@pytest.fixture
async def client(api: HttpApi) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        yield client


def fail_everywhere(backends: ScriptedBackends) -> None:
    for model in EVERY_CANDIDATE_OF_SMART:
        backends.failures[model] = [server_error(model.split("/")[0])]


def events(response: httpx.Response) -> list[Any]:
    """The SSE stream's data lines, parsed; `[DONE]` stays a string."""
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


async def test_a_chat_answer_says_which_model_served_and_what_switchyard_added(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": MESSAGES},
        headers={"x-request-id": "req-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "hello from a1"
    assert body["model"] == "alpha/a1"
    assert body["usage"]["prompt_tokens"] == 10
    assert body["switchyard"]["shortcut"] == "smart"
    assert response.headers["x-request-id"] == "req-1"
    call_id = response.headers["x-switchyard-call-id"]
    assert call_id != "req-1"
    assert body["switchyard"]["call_id"] == call_id
    assert body["switchyard"]["request_id"] == "req-1"
    assert body["id"] == f"chatcmpl-{call_id}"
    assert response.headers["x-switchyard-model"] == "alpha/a1"
    assert response.headers["x-switchyard-attempts"] == "1"
    overhead = float(response.headers["x-switchyard-overhead-ms"])
    assert overhead == body["switchyard"]["overhead_ms"] >= 0


async def test_a_failed_over_answer_lists_both_attempts(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    backends.failures["alpha/a1"] = [server_error("alpha")]
    response = await client.post(
        "/v1/chat/completions", json={"model": "smart", "messages": MESSAGES}
    )
    attempts = response.json()["switchyard"]["attempts"]
    assert [(a["model"], a["outcome"]) for a in attempts] == [
        ("alpha/a1", "failed"),
        ("beta/b1", "ok"),
    ]
    assert response.headers["x-switchyard-attempts"] == "2"


async def test_every_candidate_failing_is_a_502_with_every_attempt_and_the_overhead(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    fail_everywhere(backends)
    response = await client.post(
        "/v1/chat/completions", json={"model": "smart", "messages": MESSAGES}
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("AllCandidatesFailed", 502)
    assert [a["model"] for a in error["detail"]["attempts"]] == list(EVERY_CANDIDATE_OF_SMART)
    assert [a["model"] for a in error["switchyard"]["attempts"]] == list(EVERY_CANDIDATE_OF_SMART)
    assert response.headers["x-switchyard-attempts"] == "3"
    assert float(response.headers["x-switchyard-overhead-ms"]) >= 0


async def test_an_unknown_model_is_a_404_naming_the_closest(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "smrt", "messages": MESSAGES}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "UnknownModel"
    assert "did you mean 'smart'" in error["message"]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (json.dumps({"model": "smart", "messages": []}), "messages"),
        (json.dumps({"model": "smart", "messages": MESSAGES, "n": 3}), "n:"),
        (
            json.dumps({"model": "smart", "messages": MESSAGES, "switchyard": {"tenat": "a"}}),
            "tenat",
        ),
        ("{not json", "not valid JSON"),
    ],
)
async def test_a_request_that_is_no_valid_call_is_a_400_naming_why(
    client: httpx.AsyncClient, content: str, named: str
) -> None:
    response = await client.post("/v1/chat/completions", content=content, headers=JSON)
    assert response.status_code == 400
    assert named in response.json()["error"]["message"]


@pytest.mark.parametrize("request_id", [b"", b"x" * 129, b"tab\there", b"caf\xc3\xa9", b"del\x7f"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_id_not_1_to_128_printable_characters_is_a_400_before_any_provider(
    client: httpx.AsyncClient, backends: ScriptedBackends, request_id: bytes, stream: bool
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": MESSAGES, "stream": stream},
        headers={"x-request-id": request_id},  # type: ignore[dict-item]
    )
    assert response.status_code == 400, response.text
    assert "request_id" in response.json()["error"]["message"]
    assert backends.calls == []


async def test_a_request_id_of_128_printable_characters_is_taken(
    client: httpx.AsyncClient,
) -> None:
    request_id = "a b~" * 32
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": MESSAGES},
        headers={"x-request-id": request_id},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id


async def test_without_a_request_id_the_call_id_answers_for_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "smart", "messages": MESSAGES}
    )
    assert response.headers["x-request-id"] == response.headers["x-switchyard-call-id"]
    assert response.json()["switchyard"]["request_id"] is None


@pytest.mark.parametrize(
    ("headers", "extension"),
    [
        ({"x-switchyard-first-token-s": "0.5"}, {}),
        ({}, {"first_token_s": 0.0001}),
        ({}, {"first_token_s": 0}),
    ],
)
async def test_a_first_token_deadline_under_one_second_is_a_400_naming_it(
    client: httpx.AsyncClient,
    backends: ScriptedBackends,
    headers: dict[str, str],
    extension: dict[str, float],
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "smart", "messages": MESSAGES, "switchyard": extension},
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert "first_token_s" in response.json()["error"]["message"]
    assert backends.calls == []


async def test_options_in_headers_win_over_the_body(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    body = {"model": "smart", "messages": MESSAGES, "switchyard": {"privacy": "any"}}
    response = await client.post(
        "/v1/chat/completions", json=body, headers={"x-switchyard-privacy": "local"}
    )
    assert response.json()["model"] == "local/l1"  # the only local candidate of `smart`
    assert [model for model, _ in backends.calls] == ["local/l1"]


async def test_a_stream_opens_with_the_role_ends_with_its_route_then_done(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    backends.failures["alpha/a1"] = [server_error("alpha")]
    body = {"model": "smart", "messages": MESSAGES, "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-switchyard-model"] == "beta/b1"
    assert float(response.headers["x-switchyard-overhead-ms"]) >= 0
    *chunks, route_event, done = events(response)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "hello from b1"
    assert {c["model"] for c in chunks} == {"beta/b1"}
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert route_event["object"] == "switchyard.route"
    route = route_event["switchyard"]
    assert [a["outcome"] for a in route["attempts"]] == ["failed", "ok"]
    assert route["usage"]["output_tokens"] == 3 and route["overhead_ms"] >= 0
    assert done == "[DONE]"


async def test_a_stream_cut_after_content_ends_with_an_error_event_not_done(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    backends.fail_after_chunks["alpha/a1"] = (2, server_error("alpha"))
    body = {"model": "smart", "messages": MESSAGES, "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200  # the status line went out with the first chunk
    *_, last = events(response)
    assert last["error"]["type"] == "StreamInterrupted"
    assert [a["outcome"] for a in last["error"]["switchyard"]["attempts"]] == ["failed"]
    assert [model for model, _ in backends.calls] == ["alpha/a1"]


async def test_a_stream_that_fails_everywhere_before_its_first_chunk_gets_a_real_status(
    client: httpx.AsyncClient, backends: ScriptedBackends
) -> None:
    fail_everywhere(backends)
    body = {"model": "smart", "messages": MESSAGES, "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "AllCandidatesFailed"


async def test_embeddings_from_a_chat_model_are_refused_with_the_reason(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/embeddings", json={"model": "smart", "input": "a text"})
    assert response.status_code == 400  # the caller's to change: no retry can help
    error = response.json()["error"]
    assert error["type"] == "NoCandidateFits"
    assert "the request needs embedding" in error["switchyard"]["skipped"][0]["reason"]
    assert "x-switchyard-overhead-ms" in response.headers


async def test_models_lists_shortcuts_then_models(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models")).json()["data"]
    directory = mini_directory()
    shortcuts = [m for m in listed if m["switchyard"]["kind"] == "shortcut"]
    assert {m["id"] for m in shortcuts} == set(directory.shortcuts)
    assert len(listed) == len(directory.shortcuts) + len(directory.models)


async def test_spend_groups_and_refuses_an_unknown_grouping(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/spend", params={"group_by": "tenant,model"})).json()
    assert body["group_by"] == ["tenant", "model"]
    assert [a["kind"] for a in body["budgets"]] == ["budget"]
    assert [a["kind"] for a in body["free_tiers"]] == ["free_tier"]
    refused = await client.get("/v1/spend", params={"group_by": "planet"})
    assert refused.status_code == 400 and "planet" in refused.json()["error"]["message"]


async def test_healthz_says_why_a_config_was_refused(
    client: httpx.AsyncClient, api: HttpApi
) -> None:
    assert "refused_directory" not in (await client.get("/healthz")).json()
    api.refused_config = "models.yaml: alpha/a1: backup: no such model"
    assert (await client.get("/healthz")).json()["refused_directory"] == api.refused_config


# --- the HTTP entry points against the same app ------------------------------------------------


async def _http_stream(api: HttpApi, model: str) -> ChatStream:
    transport = _HTTPTransport("http://switchyard", httpx.ASGITransport(app=api.asgi_app()))
    return ChatStream(transport.chat_stream(make_call(model, MESSAGES, tenant="acme")))


async def test_the_http_entry_point_reads_chunks_and_the_route(api: HttpApi) -> None:
    chunks = await _http_stream(api, "smart")
    text = "".join([chunk.text async for chunk in chunks])
    assert text == "hello from a1"
    assert chunks.route is not None and chunks.route.model == "alpha/a1"


async def test_the_http_entry_point_raises_the_gateways_own_error(
    api: HttpApi, backends: ScriptedBackends
) -> None:
    fail_everywhere(backends)
    with pytest.raises(AllCandidatesFailed) as direct:
        await api.gateway.complete(make_call("smart", MESSAGES))
    fail_everywhere(backends)
    with pytest.raises(SwitchyardError) as over_http:
        [chunk async for chunk in await _http_stream(api, "smart")]
    error = over_http.value
    assert type(error) is AllCandidatesFailed and not isinstance(error, GatewayError)
    assert error.http_status == 502
    assert [(a.model, a.error_kind, a.status) for a in error.attempts] == [
        (a.model, a.error_kind, a.status) for a in direct.value.attempts
    ]
    route = route_of(error)
    assert route is not None and [a.model for a in route.attempts] == list(EVERY_CANDIDATE_OF_SMART)


async def test_an_http_error_of_no_switchyard_class_keeps_its_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"message": "slow down", "type": "proxy"}})

    transport = _HTTPTransport("http://switchyard", httpx.MockTransport(refuse))
    with pytest.raises(GatewayError) as caught:
        [chunk async for chunk in ChatStream(transport.chat_stream(make_call("smart", MESSAGES)))]
    assert (caught.value.http_status, caught.value.kind) == (429, "proxy")
