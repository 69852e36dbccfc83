"""The chaos suite's load: many concurrent chat calls, plain and streamed, each classified as its
caller saw it.

A call is one of:

- **answered**: HTTP 200 with a JSON answer, or a stream that reached `[DONE]` with no error event;
- **clear error**: a 4xx/5xx whose body is an error in OpenAI's shape (`{"error": {"type": …,
  "message": …}}`, what Switchyard answers), or a stream that ended with an error event;
- **lost**: the connection failed or broke before an answer or a status (what a caller sees when
  the process holding its connection dies), or a 4xx/5xx that is not Switchyard's error body
  (e.g. Serve's proxy's own plain-text 500 for a replica it lost);
- **silent end**: a stream that ended cleanly without `[DONE]` and without an error event — a
  truncated answer its caller cannot tell from a whole one. Must never happen.

Each answered call's `x-switchyard-call-id` names its ledger records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx


class Seen(StrEnum):
    ANSWERED = "answered"
    CLEAR_ERROR = "clear error"
    LOST = "lost"
    SILENT_END = "silent end"


@dataclass(frozen=True)
class CallSpec:
    tenant: str
    stream: bool
    model: str = "fast"
    content: str = "a chaos call"
    max_tokens: int | None = None
    headers: tuple[tuple[str, str], ...] = ()  # this call's own, beside the client's

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "stream": self.stream,
            "messages": [{"role": "user", "content": self.content}],
            "switchyard": {"tenant": self.tenant, "agent": "chaos"},
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body


@dataclass(frozen=True)
class CallOutcome:
    spec: CallSpec
    seen: Seen
    call_id: str | None
    detail: str  # the status and error type, or the transport error's class


def is_switchyard_error(payload: Any) -> bool:
    error = payload.get("error") if isinstance(payload, dict) else None
    return isinstance(error, dict) and bool(error.get("type")) and bool(error.get("message"))


async def _plain(client: httpx.AsyncClient, url: str, spec: CallSpec) -> CallOutcome:
    response = await client.post(url, json=spec.body(), headers=spec.headers)
    call_id = response.headers.get("x-switchyard-call-id")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code == 200 and isinstance(payload, dict) and payload.get("choices"):
        return CallOutcome(spec, Seen.ANSWERED, call_id, "200")
    if response.status_code >= 400 and is_switchyard_error(payload):
        kind = payload["error"]["type"]
        return CallOutcome(spec, Seen.CLEAR_ERROR, call_id, f"{response.status_code} {kind}")
    return CallOutcome(spec, Seen.LOST, call_id, f"{response.status_code} not a Switchyard body")


async def _streamed(client: httpx.AsyncClient, url: str, spec: CallSpec) -> CallOutcome:
    async with client.stream("POST", url, json=spec.body(), headers=spec.headers) as response:
        call_id = response.headers.get("x-switchyard-call-id")
        if response.status_code != 200:
            await response.aread()
            try:
                payload = json.loads(response.content)
            except ValueError:
                payload = None
            if is_switchyard_error(payload):
                kind = payload["error"]["type"]
                return CallOutcome(
                    spec, Seen.CLEAR_ERROR, call_id, f"{response.status_code} {kind}"
                )
            return CallOutcome(
                spec, Seen.LOST, call_id, f"{response.status_code} not a Switchyard body"
            )
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                return CallOutcome(spec, Seen.ANSWERED, call_id, "200 [DONE]")
            event = json.loads(data)
            if is_switchyard_error(event):
                return CallOutcome(
                    spec, Seen.CLEAR_ERROR, call_id, f"stream {event['error']['type']}"
                )
    return CallOutcome(spec, Seen.SILENT_END, call_id, "stream ended without [DONE] or error")


async def one_call(client: httpx.AsyncClient, base_url: str, spec: CallSpec) -> CallOutcome:
    url = f"{base_url}/v1/chat/completions"
    try:
        if spec.stream:
            return await _streamed(client, url, spec)
        return await _plain(client, url, spec)
    except httpx.HTTPError as error:
        return CallOutcome(spec, Seen.LOST, None, type(error).__name__)


@dataclass
class Progress:
    """How many calls have finished, for the fault to strike mid-load."""

    total: int
    done: int = 0

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()

    def finished_one(self) -> None:
        self.done += 1
        self._changed.set()

    async def reached(self, fraction: float) -> None:
        while self.done < fraction * self.total:
            self._changed.clear()
            await self._changed.wait()


async def run_calls(
    base_url: str,
    specs: list[CallSpec],
    concurrency: int,
    during: Callable[[Progress], Any] | None = None,
    timeout_s: float = 180.0,
    headers: dict[str, str] | None = None,
) -> list[CallOutcome]:
    """Send every call, `concurrency` at a time, while `during(progress)` (a coroutine function:
    the fault) runs beside them; return the calls' outcomes in order. `headers` go with every
    call (the key)."""
    progress = Progress(total=len(specs))
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, headers=headers) as client:

        async def guarded(spec: CallSpec) -> CallOutcome:
            async with gate:
                try:
                    return await one_call(client, base_url, spec)
                finally:
                    progress.finished_one()

        calls = asyncio.gather(*(guarded(spec) for spec in specs))
        if during is None:
            return list(await calls)
        fault = asyncio.ensure_future(during(progress))
        outcomes = list(await calls)
        await fault  # a fault that restores something finishes its restoring
        return outcomes
