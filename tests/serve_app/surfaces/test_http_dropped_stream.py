"""A caller who drops an HTTP stream after its first chunk is billed (issue 11 item 8).

The Ingress's own FastAPI app is driven at the ASGI level, because the drop is the point: the
client says `http.disconnect` once the first content chunk has reached it, as a server does when
the connection closes. No Ray; tests/integration/test_stream_billing.py does the same end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deployments.canonical import ChatChunk, ChatRequest
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from serve_app.surfaces.http_api import HttpApi
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends
from tests.serve_app.surfaces.test_http_api import QuietReplica

ESTIMATED_PROMPT = 6  # "hi there": 2 tokens at 4 characters a token, 4 for the message


class FirstChunkThenSilence(ScriptedBackends):
    """Streams "hello " and then waits for a next token that never comes."""

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls.append((candidate.model.id, request.model))
        return self._first_then_silence()

    async def _first_then_silence(self) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(text="hello ")
        await asyncio.Event().wait()


async def post_and_drop(api: HttpApi, body: dict[str, Any]) -> list[bytes]:
    """POST `body`; say `http.disconnect` once a body part with content has been sent. The
    body parts the client received before it went."""
    received: list[bytes] = []
    first_content = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await first_content.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            received.append(message.get("body", b""))
            if b"hello" in message.get("body", b""):
                first_content.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"switchyard")],
        "client": ("127.0.0.1", 50000),
        "server": ("switchyard", 80),
    }
    await api.asgi_app()(scope, receive, send)
    return received


async def test_a_caller_who_drops_the_stream_after_its_first_chunk_is_billed() -> None:
    ledger = RecordingLedger()
    gateway = Gateway(mini_directory(), FirstChunkThenSilence(), RecordingHealth(), ledger)
    body = {"model": "smart", "stream": True, "messages": [{"role": "user", "content": "hi there"}]}

    received = await post_and_drop(HttpApi(gateway, QuietReplica()), body)

    assert any(b"hello" in part for part in received)
    [record] = ledger.records
    assert (record.outcome, record.estimated) == ("interrupted", True)
    assert (record.input_tokens, record.output_tokens) == (ESTIMATED_PROMPT, 1)
    # alpha/a1: $1 in, $4 out per million tokens.
    assert record.cost_usd == pytest.approx((ESTIMATED_PROMPT * 1 + 1 * 4) / 1e6)
