"""CPU per request of the Ingress's own HTTP app, in one process, against a bare FastAPI handler.

No Ray, no network: each app is driven by raw ASGI calls with the same body. Switchyard's is the
app an Ingress replica serves (`HttpApi(...).asgi_app()`) around the real `Gateway` and the
shipped directory, with backends that answer at once and a ledger and breakers that only take
note; the bare one parses the JSON and returns a fixed completion. The difference is what
Switchyard's own request path (read and check the body, parse, plan, fail-over loop, book, render
the answer with its route) costs in Python, apart from Ray Serve, gRPC and the provider SDK.
A third app is Switchyard's with auth on, called with a tenant key (Bearer): the difference to
the second is what checking a key and binding its caller costs (issue 11's < 0.3 ms p50 target);
the key has no rpm/tpm here, so the rate-limit leases' bookkeeping is not in it.

    .venv/bin/python -m benchmarks.ingress_inprocess [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deployments.canonical import ChatChunk, ChatRequest, ChatResult, EmbeddingRequest, Usage
from deployments.ledger.records import UsageRecord
from directory.loader import load_directory
from directory.schema import Directory, ModelProfile
from serve_app.identity.auth import AuthConfig, Authenticator
from serve_app.identity.book import KeyBook
from serve_app.identity.cache import KeyCache, LocalKeys
from serve_app.identity.keys import KeyRequest, key_hash, make_key, new_key
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from serve_app.surfaces.http_api import HttpApi

BODY = json.dumps(
    {
        "model": "fast",
        "messages": [{"role": "user", "content": "Say hello to a new customer in a few words."}],
        "max_tokens": 32,
    }
).encode()
ANSWER_TEXT = "hello " * 20
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class InstantBackends:
    """Every model answers at once with the same text."""

    def serves(self, model: ModelProfile) -> bool:
        return True

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        usage = Usage(input_tokens=12, output_tokens=32)
        return ChatResult(text=ANSWER_TEXT, usage=usage, provider_model=request.model)

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raise NotImplementedError("this benchmark sends whole answers only")

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> Any:
        raise NotImplementedError("this benchmark sends chat calls only")


class AllClosed:
    """Every breaker closed; outcomes are dropped."""

    def is_available(self, provider: str) -> bool:
        return True

    def could_probe(self, provider: str) -> bool:
        return False

    def try_acquire_probe(self, provider: str) -> bool:
        return False

    def release_probe(self, provider: str) -> None:
        pass

    def record(self, provider: str, ok: bool, error: BaseException | None = None) -> None:
        pass


class DropLedger:
    def book(self, record: UsageRecord) -> None:
        pass


class IdleReplica:
    """The replica's side jobs (background loops, spend, breaker states): none here."""

    def ensure_started(self) -> None:
        pass

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]:
        return []

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]:
        return []

    async def allowances(self) -> list[dict[str, Any]]:
        return []


def bare_app() -> FastAPI:
    api = FastAPI()
    answer = {
        "id": "chatcmpl-bare",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER_TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 32, "total_tokens": 44},
    }

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse(dict(answer))

    return api


def switchyard_app() -> FastAPI:
    gateway = Gateway(load_directory(None), InstantBackends(), AllClosed(), DropLedger())
    return HttpApi(gateway, IdleReplica()).asgi_app()


def keyed_switchyard_app(ledger: Path) -> tuple[FastAPI, str]:
    """Switchyard's app with auth on and one tenant key in the replica's key cache."""
    gateway = Gateway(load_directory(None), InstantBackends(), AllClosed(), DropLedger())
    cache = KeyCache(LocalKeys(KeyBook(ledger)))
    key, record = make_key(KeyRequest(tenant="acme"))
    cache.remember(record, key_hash(key))
    config = AuthConfig(enabled=True, admin_key_sha256=key_hash(new_key()))
    app = HttpApi(gateway, IdleReplica(), authenticator=Authenticator(config, cache)).asgi_app()
    return app, key


async def post(app: ASGIApp, key: str | None = None) -> None:
    """One POST /v1/chat/completions (with `key` as a bearer token); raises unless answered 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"host", b"bench"),
            (b"content-length", str(len(BODY)).encode()),
            *([(b"authorization", f"Bearer {key}".encode())] if key else []),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise RuntimeError(f"answered {statuses}")


async def cpu_us_per_request(app: ASGIApp, requests: int, key: str | None = None) -> float:
    for _ in range(min(300, requests)):  # warm-up: caches, lazily built pieces
        await post(app, key)
    started = time.process_time()
    for _ in range(requests):
        await post(app, key)
    return (time.process_time() - started) / requests * 1e6


async def main_async(requests: int, rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        keyed, key = keyed_switchyard_app(Path(folder) / "ledger.sqlite")
        apps: dict[str, tuple[ASGIApp, str | None]] = {
            "bare FastAPI": (bare_app(), None),
            "switchyard": (switchyard_app(), None),
            "switchyard, key checked": (keyed, key),
        }
        figures: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):  # alternate, so that all see the same machine
            for name, (app, app_key) in apps.items():
                figures[name].append(await cpu_us_per_request(app, requests, app_key))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingress_inprocess")
    parser.add_argument("--requests", type=int, default=3000, help="per app and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    figures = asyncio.run(main_async(args.requests, args.rounds))
    for name, values in figures.items():
        each = ", ".join(f"{value:.0f}" for value in values)
        print(f"{name}: {statistics.median(values):.0f} µs CPU per request (rounds: {each})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
