"""A tiny HTTP server on 127.0.0.1 that answers whatever a test tells it to, and remembers what
it was sent: the stand-in for a provider when a test replays a documented response."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Canned:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # For streams: send the body in these pieces (SSE events), and optionally drop the
    # connection after them instead of ending the body properly.
    pieces: list[bytes] | None = None
    cut: bool = False
    first_piece_delay_s: float = 0.0  # headers go out at once, the first piece after this


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


class CannedServer:
    def __init__(self) -> None:
        self.next = Canned()
        self.received: list[Received] = []
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("canned server did not start")
            time.sleep(0.01)

    def respond(self, canned: Canned) -> None:
        self.next = canned
        self.received.clear()

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.received.append(
            Received(
                request.method, request.url.path, request.url.query, dict(request.headers), body
            )
        )
        canned = self.next
        if canned.pieces is None:
            return Response(
                canned.body,
                status_code=canned.status,
                media_type=canned.content_type,
                headers=canned.headers,
            )
        pieces, cut, delay = canned.pieces, canned.cut, canned.first_piece_delay_s

        async def send() -> AsyncIterator[bytes]:
            yield b""  # makes the server send the headers now
            await asyncio.sleep(delay)
            for piece in pieces:
                yield piece
                await asyncio.sleep(0)
            if cut:
                raise ConnectionResetError("cut on purpose")  # uvicorn drops the connection

        return StreamingResponse(
            send(),
            status_code=canned.status,
            media_type=canned.content_type,
            headers=canned.headers,
        )


def sse_events(text: str) -> list[bytes]:
    """A recorded SSE body split into its events (each with its blank-line terminator)."""
    separator = "\r\n\r\n" if "\r\n\r\n" in text else "\n\n"
    return [(event + separator).encode() for event in text.split(separator) if event.strip()]
