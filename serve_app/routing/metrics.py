"""Prometheus metrics of the request path, exported through Ray's metrics agent.

Why Ray's metrics (`ray.serve.metrics`) and not a `/metrics` route on the Ingress: a scrape
through Serve's proxy reaches one replica, which knows only its own calls, so a `/metrics` route
would show a random replica's numbers on each scrape. Ray's metrics agent on every node exports
the metrics of every process on that node (each series tagged with its replica), Prometheus finds
the agents through the file Ray writes for service discovery, and `sum by (...)` adds replicas up.
It is also where Ray Serve's own metrics (queue lengths, replica health) already are.

The request path only appends to local buffers (`BufferedMeter`): a Ray metric costs ~6 µs per
update in-process, which is real on a hot path that does little else, so `RayMeter.flush` hands
the buffered counts to Ray in the background, counters summed per label set.

Metric names here are without Ray's `ray_` prefix; scraped, `switchyard_requests` is
`ray_switchyard_requests_total`. Labels: model, provider, shortcut, tenant, agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Protocol

from deployments.background import BackgroundLoop

logger = logging.getLogger(__name__)

LABELS = ("model", "provider", "shortcut", "tenant", "agent")
LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
OVERHEAD_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
MAX_SAMPLES = 100_000  # histogram samples kept between flushes; the oldest go first


Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CallLabels:
    model: str
    provider: str
    shortcut: str
    tenant: str
    agent: str

    def items(self) -> Tags:
        """The labels as the buffers key them: (name, value) pairs in `LABELS`' order."""
        return (
            ("model", self.model),
            ("provider", self.provider),
            ("shortcut", self.shortcut),
            ("tenant", self.tenant),
            ("agent", self.agent),
        )


class Meter(Protocol):
    """What the gateway tells the metrics; every method is a synchronous append."""

    def attempt(
        self,
        labels: CallLabels,
        *,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
        gpu_cost_usd: float,
    ) -> None: ...

    def failover(self, labels: CallLabels, *, from_model: str, reason: str) -> None: ...

    def call(
        self,
        labels: CallLabels,
        *,
        outcome: str,
        latency_s: float,
        ttft_s: float | None,
        overhead_s: float,
    ) -> None: ...


class NullMeter:
    def attempt(self, labels: CallLabels, **values: float) -> None:
        pass

    def failover(self, labels: CallLabels, *, from_model: str, reason: str) -> None:
        pass

    def call(self, labels: CallLabels, **values: Any) -> None:
        pass


# (metric name, tag items) -> summed value
CounterKey = tuple[str, Tags]


class BufferedMeter:
    """Collects what the gateway tells it; `drain` hands it over and starts afresh."""

    def __init__(self) -> None:
        self.counters: defaultdict[CounterKey, float] = defaultdict(float)
        self.samples: deque[tuple[str, Tags, float]] = deque(maxlen=MAX_SAMPLES)

    # The request path: a tuple of tag items is made once per call or attempt, not per metric.
    def _count(self, name: str, tags: Tags, value: float) -> None:
        self.counters[(name, tags)] += value

    def _sample(self, name: str, tags: Tags, value: float) -> None:
        self.samples.append((name, tags, value))

    def attempt(
        self,
        labels: CallLabels,
        *,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
        gpu_cost_usd: float,
    ) -> None:
        tags = labels.items()
        self._count("switchyard_attempts", tags, 1)
        self._count("switchyard_input_tokens", tags, input_tokens)
        self._count("switchyard_output_tokens", tags, output_tokens)
        self._count("switchyard_cost_usd", tags, cost_usd)
        if gpu_cost_usd:
            self._count("switchyard_gpu_cost_usd", tags, gpu_cost_usd)

    def failover(self, labels: CallLabels, *, from_model: str, reason: str) -> None:
        tags = (
            ("from_model", from_model),
            ("to_model", labels.model),
            ("reason", reason),
            ("shortcut", labels.shortcut),
            ("tenant", labels.tenant),
            ("agent", labels.agent),
        )
        self._count("switchyard_failovers", tags, 1)

    def call(
        self,
        labels: CallLabels,
        *,
        outcome: str,
        latency_s: float,
        ttft_s: float | None,
        overhead_s: float,
    ) -> None:
        tags = labels.items()
        self._count("switchyard_requests", (*tags, ("outcome", outcome)), 1)
        self._sample("switchyard_request_latency_seconds", tags, latency_s)
        self._sample("switchyard_gateway_overhead_seconds", tags, overhead_s)
        if ttft_s is not None:
            self._sample("switchyard_ttft_seconds", tags, ttft_s)

    def drain(
        self,
    ) -> tuple[dict[CounterKey, float], list[tuple[str, Tags, float]]]:
        counters, samples = dict(self.counters), list(self.samples)
        self.counters.clear()
        self.samples.clear()
        return counters, samples


_DESCRIPTIONS = {
    "switchyard_requests": "Calls, by the model that served them (or was tried last) and outcome.",
    "switchyard_attempts": "Attempts at a model, failed ones included.",
    # The tokens the ledger books: a provider's count, or the estimate of an attempt that
    # ended early (a caller gone, a stream cut; `serve_app.routing.usage`).
    "switchyard_input_tokens": "Prompt tokens per attempt, as booked (estimated if cut short).",
    "switchyard_output_tokens": "Output tokens per attempt, as booked (estimated if cut short).",
    "switchyard_cost_usd": "Cash cost in USD, as booked in the ledger.",
    "switchyard_gpu_cost_usd": "Local models' amortised GPU cost in USD, apart from cash.",
    "switchyard_failovers": "Failovers from one model to the next, with the error that caused it.",
}
_HISTOGRAMS = {
    "switchyard_request_latency_seconds": ("Whole call, failovers included.", LATENCY_BUCKETS_S),
    "switchyard_ttft_seconds": (
        "Streams: time to the first chunk, failovers included.",
        LATENCY_BUCKETS_S,
    ),
    "switchyard_gateway_overhead_seconds": (
        "A call's time outside its attempts: planning, reserving, booking, failover.",
        OVERHEAD_BUCKETS_S,
    ),
}


class RayMeter(BufferedMeter):
    """A `BufferedMeter` whose `flush` (in the background, `start`) feeds Ray's metrics."""

    def __init__(self) -> None:
        super().__init__()
        self._metrics: dict[str, Any] = {}
        self._breaker: Any = None
        self._loop = BackgroundLoop()

    def _metric(self, name: str, tag_keys: tuple[str, ...]) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            from ray.serve import metrics

            keys: Any = tag_keys  # Ray annotates tag_keys as a 1-tuple; any tuple of str works
            if name in _HISTOGRAMS:
                description, buckets = _HISTOGRAMS[name]
                metric = metrics.Histogram(
                    name, description=description, boundaries=buckets, tag_keys=keys
                )
            else:
                metric = metrics.Counter(name, description=_DESCRIPTIONS[name], tag_keys=keys)
            self._metrics[name] = metric
        return metric

    def set_breakers(self, states: dict[str, str]) -> None:
        """Each provider's breaker as this replica sees it: 0 closed, 1 half-open, 2 open."""
        if self._breaker is None:
            from ray.serve import metrics

            self._breaker = metrics.Gauge(
                "switchyard_breaker_state",
                description="Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
                tag_keys=("provider",),
            )
        for provider, state in states.items():
            self._breaker.set(BREAKER_VALUES.get(state, 0.0), {"provider": provider})

    def flush(self) -> None:
        counters, samples = self.drain()
        for (name, tags), value in counters.items():
            if value:
                self._metric(name, tuple(k for k, _ in tags)).inc(value, dict(tags))
        for name, tags, value in samples:
            self._metric(name, tuple(k for k, _ in tags)).observe(value, dict(tags))

    def start(self, interval_s: float, breakers: Any = None) -> asyncio.Task[None]:
        """Flush every `interval_s`; `breakers()` gives {provider: state} for the gauge."""
        return self._loop.start(lambda: self._run(interval_s, breakers))

    async def _run(self, interval_s: float, breakers: Any) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.flush()
                if breakers is not None:
                    self.set_breakers(breakers())
            except Exception as exc:  # metrics must never take the replica down
                logger.warning("metrics flush failed: %r", exc)

    async def aclose(self) -> None:
        await self._loop.stop()
        with contextlib.suppress(Exception):
            self.flush()
