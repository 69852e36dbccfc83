"""Anthropic's documented requests and streams (tests/fixtures/anthropic/, each file says where its
shape comes from) replayed through Switchyard: the documented request goes to the Anthropic
surface (the Ingress's own app, over httpx's ASGI transport); the documented upstream stream is
what the Anthropic provider answers (a loopback server, through the real adapter and SDK). The
caller must get the same message the provider streamed, event grammar and all, and the provider
must get what the caller asked, `cache_control` and thinking included.

The fixtures name Anthropic's models; the replay asks for the mini directory's Anthropic model,
and for no more output than it writes (`OUTPUT_LIMIT`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.cloud import ChatAdapter, Timeouts, build_adapter
from directory.schema import ModelProfile
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from serve_app.surfaces.http_api import HttpApi
from tests.deployments.cloud.canned_server import Canned, CannedServer
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger
from tests.serve_app.surfaces.test_http_api import QuietReplica

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
MODEL = "beta/b1"  # the mini directory's Anthropic model
OUTPUT_LIMIT = 1024  # its max output tokens
Event = tuple[str, dict[str, Any]]


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


class AdapterBackends:
    """The real Anthropic adapter for every model, against the canned provider."""

    def __init__(self, adapter: ChatAdapter) -> None:
        self._adapter = adapter

    def serves(self, model: ModelProfile) -> bool:
        return True

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._adapter.stream(request)

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        return await self._adapter.complete(request)

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        return await self._adapter.embed(request)

    async def count_tokens(self, candidate: Candidate, request: ChatRequest) -> int | None:
        return await self._adapter.count_tokens(request)


@pytest.fixture(scope="module")
def provider() -> Iterator[CannedServer]:
    running = CannedServer()
    yield running
    running.close()


@pytest.fixture
def ledger() -> RecordingLedger:
    return RecordingLedger()


@pytest.fixture
async def switchyard(
    provider: CannedServer, ledger: RecordingLedger
) -> AsyncIterator[httpx.AsyncClient]:
    adapter = build_adapter("anthropic", "beta", provider.url, "sk-ant-test", Timeouts(2, 10))
    gateway = Gateway(mini_directory(), AdapterBackends(adapter), RecordingHealth(), ledger)
    app: FastAPI = HttpApi(gateway, QuietReplica()).asgi_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        yield client
    await adapter.aclose()


def upstream(events: list[list[Any]]) -> Canned:
    body = b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )
    return Canned(body=body, content_type="text/event-stream")


async def replay(switchyard: httpx.AsyncClient, request: dict[str, Any]) -> httpx.Response:
    capped = min(request["max_tokens"], OUTPUT_LIMIT)
    return await switchyard.post(
        "/v1/messages", json={**request, "model": MODEL, "max_tokens": capped}
    )


def parse_sse(text: str) -> list[Event]:
    found = re.findall(r"event: (\S+)\ndata: (.*)\n\n", text)
    return [(name, json.loads(data)) for name, data in found]


# Anthropic's grammar: message_start, blocks (start, deltas, stop), message_delta, message_stop;
# pings anywhere. Switchyard adds its `switchyard.route` event last, which SDKs skip.
GRAMMAR = re.compile(
    r"S(P*B(P|D)*E)*P*MXR?"  # S start, B/D/E block start/delta/stop, M delta, X stop, R route
)
LETTER = {
    "message_start": "S",
    "ping": "P",
    "content_block_start": "B",
    "content_block_delta": "D",
    "content_block_stop": "E",
    "message_delta": "M",
    "message_stop": "X",
    "switchyard.route": "R",
}


def fold(events: list[Event] | list[list[Any]]) -> dict[str, Any]:
    """The message a stream builds, as an SDK accumulates it."""
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, str] = {}
    usage: dict[str, Any] = {}
    stop_reason = None
    for name, data in events:
        if name == "message_start":
            usage.update(data["message"].get("usage") or {})
        elif name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"])
        elif name == "content_block_delta":
            index, delta = data["index"], data["delta"]
            block, kind = blocks[index], delta["type"]
            if kind == "input_json_delta":
                partial_json[index] = partial_json.get(index, "") + delta["partial_json"]
            else:
                field = {"text_delta": "text", "thinking_delta": "thinking"}.get(kind, "signature")
                block[field] = block.get(field, "") + delta[field]
        elif name == "content_block_stop" and data["index"] in partial_json:
            blocks[data["index"]]["input"] = json.loads(partial_json[data["index"]] or "{}")
        elif name == "message_delta":
            stop_reason = data["delta"]["stop_reason"]
            usage.update(data.get("usage") or {})
    return {"content": [blocks[i] for i in sorted(blocks)], "stop_reason": stop_reason, **usage}


def assert_same_message(answer: httpx.Response, documented: list[list[Any]]) -> dict[str, Any]:
    """The caller's stream follows Anthropic's grammar and builds the provider's message."""
    assert answer.status_code == 200, answer.text
    events = parse_sse(answer.text)
    assert GRAMMAR.fullmatch("".join(LETTER[name] for name, _ in events))
    ours, theirs = fold(events), fold(documented)
    assert ours["content"] == theirs["content"]
    assert ours["stop_reason"] == theirs["stop_reason"]
    for counted in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        if counted in theirs:
            assert ours[counted] == theirs[counted], counted
    return ours


@pytest.mark.parametrize(
    "name", ["basic_stream.json", "tool_use_stream.json", "thinking_stream.json"]
)
async def test_a_documented_stream_reaches_the_caller_as_the_provider_sent_it(
    switchyard: httpx.AsyncClient, provider: CannedServer, name: str
) -> None:
    documented = fixture(name)
    provider.respond(upstream(documented["upstream_events"]))
    answer = await replay(switchyard, documented["request"])

    assert_same_message(answer, documented["upstream_events"])
    assert "x-switchyard-dropped" not in answer.headers  # an Anthropic model: nothing lost
    (sent,) = provider.received
    assert sent.body.get("thinking") == documented["request"].get("thinking")


async def test_a_coding_agent_session_keeps_its_cache_marks_and_books_the_cache(
    switchyard: httpx.AsyncClient, provider: CannedServer, ledger: RecordingLedger
) -> None:
    session = fixture("coding_agent_session.json")
    for turn in session["turns"]:
        provider.respond(upstream(turn["upstream_events"]))
        answer = await replay(switchyard, turn["request"])

        assert_same_message(answer, turn["upstream_events"])
        assert "x-switchyard-dropped" not in answer.headers
        (sent,) = provider.received
        for asked in ("system", "tools", "messages"):  # cache_control marks included
            assert sent.body[asked] == turn["request"][asked], asked

    first, second = (record for record in ledger.records if record.outcome == "ok")
    assert (first.cache_write_tokens, first.cached_input_tokens) == (5120, 0)
    assert (second.cache_write_tokens, second.cached_input_tokens) == (96, 5120)
    assert second.input_tokens == 4 + 96 + 5120  # every prompt token, as the ledger counts


async def test_a_coding_agent_sessions_token_count_is_the_providers_exact_count(
    switchyard: httpx.AsyncClient, provider: CannedServer
) -> None:
    counting = fixture("coding_agent_session.json")["count_tokens"]
    provider.respond(Canned(body=json.dumps(counting["upstream_answer"]).encode()))
    answer = await switchyard.post(
        "/v1/messages/count_tokens", json={**counting["request"], "model": MODEL}
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["input_tokens"] == counting["upstream_answer"]["input_tokens"]
    assert answer.headers["x-switchyard-token-count"] == "exact"
    (sent,) = provider.received
    assert sent.path.endswith("/v1/messages/count_tokens")
    assert sent.body["tools"] == counting["request"]["tools"]
    assert sent.body["system"] == counting["request"]["system"]
