"""HTTP plumbing shared by the three sandbox apps: JSON and SSE responses, pacing, and the faults
that look the same on every wire (latency, hang, malformed body, a connection dropped midway).

Streams are sent by `EventStream`, a small ASGI response rather than Starlette's
`StreamingResponse`, because a sandbox must be able to *drop* a connection without the terminal
events, and to coalesce events that are due at the same moment into one write (the benchmarks use
the OpenAI sandbox as the bare upstream, so an unpaced stream costs one write, not one per word).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from deployments.sandbox.script import Fault, Plan

# Every response says where it came from: sandbox answers must never pass for real ones.
SANDBOX_HEADERS = {"x-switchyard-sandbox": "1"}
# How often a long pause looks at whether the sandbox is stopping.
_PAUSE_SLICE_S = 0.1
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-switchyard-sandbox", b"1"),
]


class StreamCut(Exception):
    """Raised inside a response to make uvicorn drop the connection on purpose.

    ASGI has no "abort": an exception after the response started is the one way to make the
    server close the socket without finishing the body, which is what a cut stream looks like.
    """


class _QuietStreamCut(logging.Filter):
    """Keeps the deliberate cuts out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, StreamCut)


_QUIET_FILTER = _QuietStreamCut()


def quiet_stream_cuts() -> None:
    """Install the log filter (idempotent: logging ignores a filter it already holds)."""
    logging.getLogger("uvicorn.error").addFilter(_QUIET_FILTER)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**SANDBOX_HEADERS, **headers} if headers else SANDBOX_HEADERS,
    )


def parse_json_object(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def pause(receive: Receive, seconds: float, closing: threading.Event) -> bool:
    """Wait `seconds`, or less if the client goes away or the sandbox stops; True if either did.

    Waiting on `receive()` rather than sleeping lets a hung or slow request end as soon as its
    client gives up, instead of holding a task for the full delay. It waits in slices so that it
    also sees `closing`, set from another thread when the sandbox stops.
    """
    if seconds <= 0:
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if closing.is_set():
            return True
        try:
            message = await asyncio.wait_for(receive(), timeout=min(left, _PAUSE_SLICE_S))
        except TimeoutError:
            continue
        if message["type"] == "http.disconnect":
            return True
    return False


def _interrupted(plan: Plan) -> Response:
    if plan.closing.is_set():  # the sandbox is stopping, as a server going down would say
        return json_response({"error": "the sandbox is stopping"}, 503, {"connection": "close"})
    return Response(status_code=499)  # the client left; nobody reads this


async def delay_start(plan: Plan, request: Request) -> Response | None:
    """The script's latency, and the hang fault. A response when the wait was cut short."""
    seconds = plan.latency_s + (plan.script.hang_s if plan.fault is Fault.HANG else 0.0)
    if await pause(request.receive, seconds, plan.closing):
        return _interrupted(plan)
    return None


async def generation_time(plan: Plan, request: Request, output_tokens: int) -> Response | None:
    """What a whole (non-streamed) answer takes to generate. A response when cut short."""
    seconds = plan.ttft_s + output_tokens * plan.token_interval_s
    if await pause(request.receive, seconds, plan.closing):
        return _interrupted(plan)
    return None


def pace(
    plan: Plan, head: Sequence[bytes], content: Sequence[bytes], tail: Sequence[bytes]
) -> list[tuple[float, bytes]]:
    """Events with the delay before each: TTFT before the first content event, then one token
    interval before each later one; framing events go at once."""
    events = [(0.0, e) for e in head]
    wait = plan.ttft_s
    for event in content:
        events.append((wait, event))
        wait = plan.token_interval_s
    if content:
        wait = 0.0
    for event in tail:  # with no content, the first framing event waits out the TTFT
        events.append((wait, event))
        wait = 0.0
    return events


def retry_after_headers(seconds: float) -> dict[str, str]:
    """Retry-After in whole seconds (the HTTP rule), and OpenAI's exact retry-after-ms."""
    return {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}


class EventStream(Response):
    """A server-sent-event stream, paced, optionally cut after `cut_after` events."""

    def __init__(
        self,
        events: list[tuple[float, bytes]],
        closing: threading.Event,
        cut_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.events = events
        self.closing = closing
        self.cut_after = cut_after
        self.status_code = 200
        self.extra_headers = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": _SSE_HEADERS + self.extra_headers,
            }
        )
        events = self.events
        if self.cut_after is not None:
            events = events[: self.cut_after]
        buffer: list[bytes] = []
        for delay, event in events:
            if delay > 0:
                if buffer:
                    await send(
                        {"type": "http.response.body", "body": b"".join(buffer), "more_body": True}
                    )
                    buffer = []
                if await pause(receive, delay, self.closing):
                    if self.closing.is_set():
                        raise StreamCut("the sandbox is stopping")
                    return  # the client left; nobody to finish the stream for
            buffer.append(event)
        if self.cut_after is not None:
            await send({"type": "http.response.body", "body": b"".join(buffer), "more_body": True})
            raise StreamCut(f"sandbox fault: stream cut after {self.cut_after} events")
        await send({"type": "http.response.body", "body": b"".join(buffer), "more_body": False})


class CutBody(Response):
    """A 200 whose JSON body stops halfway: the non-streamed form of a dropped connection."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"x-switchyard-sandbox", b"1"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise StreamCut("sandbox fault: body cut halfway")


def malformed_json(stream: bool, closing: threading.Event, event_line: bytes = b"") -> Response:
    """A 200 whose body is not valid JSON (in a stream: an event whose data is not JSON).

    `event_line` is the SSE `event:` line a provider's client needs to look at the data at all.
    """
    if stream:
        return EventStream(
            [(0.0, event_line + b'data: {"id": "sandbox", "choices": [{"delta": \n\n')], closing
        )
    return Response(
        b'{"id": "sandbox", "choices": [', media_type="application/json", headers=SANDBOX_HEADERS
    )
