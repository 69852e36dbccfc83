"""The load generator: send a schedule of chat calls to a Switchyard URL and time each answer.

Arrivals are open-loop: each request starts at its scheduled instant whether or not earlier ones
have been answered. A closed loop (N workers, each sending when its last answer came back) slows
down exactly when the server does, so it never builds the queue that real callers — who do not
wait for each other — build, and it hides the latency an autoscaler is there to prevent. Here the
in-flight count grows when the server falls behind, as it would in production.

What is recorded per request: when it was due and when it went out (the generator's own lateness,
so an overloaded client shows up instead of passing for a slow server), its HTTP status or the
transport failure, the latency to the last byte, and for streamed calls the time to the first
content chunk (TTFT).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from serve_app.load.shapes import Arrival

KEY_ENV = "SWITCHYARD_API_KEY"


@dataclass(frozen=True)
class LoadTarget:
    url: str  # Switchyard's base URL, e.g. http://127.0.0.1:8000
    model: str = "workhorse"  # a shortcut or a model id
    key: str | None = None  # sent as `Authorization: Bearer <key>`; never logged
    stream: bool = True
    timeout_s: float = 120.0

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"} if self.key else {}


@dataclass(frozen=True)
class Outcome:
    due_s: float  # when the schedule said to send it, from the run's start
    sent_s: float  # when it went out
    status: str  # "200", "429", "502", …, or "timeout", "connect-error", "stream-error"
    latency_s: float  # to the last byte, or to the failure
    ttft_s: float | None  # streamed answers only: to the first content chunk

    @property
    def ok(self) -> bool:
        return self.status == "200"


@dataclass
class LoadState:
    """Counters the progress line and the tuner's sampler read while the run goes on."""

    scheduled: int
    sent: int = 0
    answered: int = 0
    failed: int = 0
    wall_s: float = 0.0  # from the first scheduled instant to the last answer
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        return self.sent - self.answered - self.failed


def prompt_of(tokens: int) -> str:
    """A prompt of about `tokens` tokens (one short word each, as the sandboxes count them)."""
    words = ("route", "the", "call", "to", "a", "model", "that", "fits")
    return " ".join(words[i % len(words)] for i in range(max(1, tokens)))


def _body(target: LoadTarget, arrival: Arrival) -> dict[str, object]:
    return {
        "model": target.model,
        "messages": [{"role": "user", "content": prompt_of(arrival.prompt_tokens)}],
        "max_tokens": max(1, arrival.output_tokens),
        "stream": target.stream,
    }


async def _streamed(response: httpx.Response, started: float) -> tuple[str, float | None]:
    """Read an SSE answer; (status, TTFT). An error event after the first chunk fails the call."""
    ttft: float | None = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return "200", ttft
        event = json.loads(data)
        if "error" in event:
            return "stream-error", ttft
        choices = event.get("choices") or [{}]
        if ttft is None and (choices[0].get("delta") or {}).get("content"):
            ttft = time.perf_counter() - started
    return "stream-error", ttft  # the stream ended without [DONE]


async def _one(
    client: httpx.AsyncClient, target: LoadTarget, arrival: Arrival, due: float, t0: float
) -> Outcome:
    started = time.perf_counter()
    ttft: float | None = None
    try:
        request = client.build_request(
            "POST",
            f"{target.url.rstrip('/')}/v1/chat/completions",
            json=_body(target, arrival),
            headers=target.headers(),
        )
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                status = str(response.status_code)
            elif target.stream:
                status, ttft = await _streamed(response, started)
            else:
                await response.aread()
                status = "200"
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        status = "timeout"
    except (httpx.TransportError, json.JSONDecodeError):
        status = "connect-error"
    return Outcome(
        due_s=due,
        sent_s=started - t0,
        status=status,
        latency_s=time.perf_counter() - started,
        ttft_s=ttft,
    )


async def run_load(
    target: LoadTarget,
    arrivals: Sequence[Arrival],
    *,
    state: LoadState | None = None,
    on_outcome: Callable[[LoadState], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadState:
    """Send every arrival at its instant; return when all are answered or failed."""
    state = state or LoadState(scheduled=len(arrivals))
    # No cap on connections: a cap would turn the open loop back into a closed one.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(
        timeout=target.timeout_s, limits=limits, transport=transport
    ) as client:

        async def send(arrival: Arrival) -> None:
            outcome = await _one(client, target, arrival, arrival.at_s, t0)
            state.outcomes.append(outcome)
            if outcome.ok:
                state.answered += 1
            else:
                state.failed += 1
            if on_outcome is not None:
                on_outcome(state)

        t0 = time.perf_counter()
        tasks = []
        for arrival in arrivals:
            delay = arrival.at_s - (time.perf_counter() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            state.sent += 1
            tasks.append(asyncio.create_task(send(arrival)))
        await asyncio.gather(*tasks)
        state.wall_s = time.perf_counter() - t0
    return state
