"""The load generator: one process of its own, so that its event loop and GIL are nobody else's.

`python -m benchmarks.load < plan.json > results.json`. The plan names the targets (one per
contender: URL, headers, the non-streamed and the streamed body) and the phases to run; the
results hold raw samples (milliseconds, seconds), which `benchmarks.report` turns into figures.

Interleaving, so that a noisy neighbour on the machine hits every contender alike:

- `sequential` and `stream` alternate contenders request by request (A B C A B C …), one request
  in flight at a time: latency, and time to first token (TTFT) of streamed answers.
- `concurrent` runs one burst per contender per round, the contenders' order rotated each round:
  requests/s with `concurrency` requests in flight.

The client is aiohttp rather than httpx: a few times cheaper per request in CPU, which matters
when the servers under test share the same two cores.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

# The body's `data:` lines are parsed only until the first one with content; OpenAI-style servers
# send a role-only event first, and some a usage-only one last.
_DATA = b"data: "


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the full chat completions URL
    body: dict[str, Any]  # non-streamed request
    headers: dict[str, str] = field(default_factory=dict)

    def stream_body(self) -> dict[str, Any]:
        return {**self.body, "stream": True}


@dataclass(frozen=True)
class Plan:
    targets: list[Target]
    phases: list[str]  # of "sequential", "stream", "concurrent"
    rounds: int
    requests: int  # per target and phase, over all rounds
    concurrency: int
    warmup: int = 20  # per target, unmeasured

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        targets = [Target(**t) for t in data.pop("targets")]
        return cls(targets=targets, **data)


@dataclass
class Samples:
    latency_ms: list[float] = field(default_factory=list)
    # How many sequential latencies each round added (its slice of `latency_ms`), so that every
    # round can be reported, not only the whole run.
    round_sizes: list[int] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    stream_ms: list[float] = field(default_factory=list)
    # One entry per concurrent burst: (requests completed, seconds taken).
    bursts: list[tuple[int, float]] = field(default_factory=list)
    burst_latency_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Client:
    """One connection pool per target, kept alive across the whole run."""

    def __init__(self, target: Target, pool: int) -> None:
        self.target = target
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool, force_close=False),
            timeout=aiohttp.ClientTimeout(total=120),
            headers=target.headers,
        )
        self._body = json.dumps(target.body).encode()
        self._stream_body = json.dumps(target.stream_body()).encode()

    async def complete(self) -> float:
        """One non-streamed call; milliseconds until its whole body was read."""
        started = time.perf_counter()
        async with self._session.post(
            self.target.url, data=self._body, headers={"content-type": "application/json"}
        ) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return (time.perf_counter() - started) * 1000

    async def stream(self) -> tuple[float, float]:
        """One streamed call; (ms to the first content event, ms to the end of the stream)."""
        started = time.perf_counter()
        first: float | None = None
        async with self._session.post(
            self.target.url, data=self._stream_body, headers={"content-type": "application/json"}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {(await response.read())[:200]!r}")
            async for line in response.content:
                if first is None and line.startswith(_DATA) and _has_content(line):
                    first = time.perf_counter()
        ended = time.perf_counter()
        if first is None:
            raise RuntimeError("the stream carried no content")
        return (first - started) * 1000, (ended - started) * 1000

    async def close(self) -> None:
        await self._session.close()


def _has_content(line: bytes) -> bool:
    payload = line[len(_DATA) :].strip()
    if payload == b"[DONE]":
        return False
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    choices = event.get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


async def _sequential(clients: list[Client], per_round: int, out: dict[str, Samples]) -> None:
    for _ in range(per_round):
        for client in clients:
            samples = out[client.target.name]
            try:
                samples.latency_ms.append(await client.complete())
            except Exception as error:  # a failed request is counted, not fatal
                samples.errors.append(f"sequential: {error}")


async def _stream(clients: list[Client], per_round: int, out: dict[str, Samples]) -> None:
    for _ in range(per_round):
        for client in clients:
            samples = out[client.target.name]
            try:
                ttft, total = await client.stream()
            except Exception as error:
                samples.errors.append(f"stream: {error}")
                continue
            samples.ttft_ms.append(ttft)
            samples.stream_ms.append(total)


async def burst(client: Client, requests: int, concurrency: int, samples: Samples) -> None:
    """`requests` non-streamed calls with `concurrency` in flight; one entry in `bursts`."""
    remaining = requests
    done = 0

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0:
            remaining -= 1
            try:
                samples.burst_latency_ms.append(await client.complete())
                done += 1
            except Exception as error:
                samples.errors.append(f"concurrent: {error}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    samples.bursts.append((done, time.perf_counter() - started))


async def run(plan: Plan) -> dict[str, Any]:
    clients = [Client(t, pool=max(plan.concurrency, 1)) for t in plan.targets]
    out = {t.name: Samples() for t in plan.targets}
    per_round = max(1, plan.requests // plan.rounds)
    try:
        # Warm-up: open connections, and let lazily built things (routers, SDK clients) build.
        warm = {t.name: Samples() for t in plan.targets}
        await _sequential(clients, plan.warmup, warm)
        if "stream" in plan.phases:
            await _stream(clients, max(1, plan.warmup // 4), warm)
        if "concurrent" in plan.phases:
            for client in clients:
                await burst(
                    client, plan.concurrency * 2, plan.concurrency, warm[client.target.name]
                )
        for round_number in range(plan.rounds):
            if "sequential" in plan.phases:
                before = {name: len(s.latency_ms) for name, s in out.items()}
                await _sequential(clients, per_round, out)
                for name, samples in out.items():
                    samples.round_sizes.append(len(samples.latency_ms) - before[name])
            if "stream" in plan.phases:
                await _stream(clients, per_round, out)
            if "concurrent" in plan.phases:
                shift = round_number % len(clients)
                for client in clients[shift:] + clients[:shift]:
                    await burst(client, per_round, plan.concurrency, out[client.target.name])
        warm_errors = {name: s.errors for name, s in warm.items() if s.errors}
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return {
        "samples": {name: asdict(samples) for name, samples in out.items()},
        "warmup_errors": warm_errors,
    }


def main() -> int:
    plan = Plan.from_json(json.load(sys.stdin))
    try:
        import uvloop  # the client's own loop costs less CPU on uvloop

        results = uvloop.run(run(plan))
    except ImportError:
        results = asyncio.run(run(plan))
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
