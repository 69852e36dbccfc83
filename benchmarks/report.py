"""From raw samples to the figures of BENCHMARKS.md: percentiles, requests/s, ratios, a table."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

# Goals of issue 4 ("Done when", Performance).
GOAL_OVERHEAD_MS = 6.0  # Switchyard p50 − upstream p50
GOAL_VS_LITELLM = 3.0  # Switchyard req/s ÷ LiteLLM req/s at 32 concurrent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0–100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Figures:
    name: str
    p50_ms: float
    p99_ms: float
    rps: float  # median over the bursts of requests/s at the run's concurrency
    rps_spread: tuple[float, float]  # (min, max) over the bursts
    ttft_p50_ms: float
    errors: int
    peak_rss_mb: dict[str, float]  # process label -> VmHWM (MB)

    @classmethod
    def of(cls, name: str, samples: dict[str, Any], memory: dict[str, float]) -> Figures:
        rates = [done / seconds for done, seconds in samples["bursts"] if seconds > 0]
        return cls(
            name=name,
            p50_ms=percentile(samples["latency_ms"], 50),
            p99_ms=percentile(samples["latency_ms"], 99),
            rps=statistics.median(rates) if rates else math.nan,
            rps_spread=(min(rates), max(rates)) if rates else (math.nan, math.nan),
            ttft_p50_ms=percentile(samples["ttft_ms"], 50),
            errors=len(samples["errors"]),
            peak_rss_mb=memory,
        )


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def ratios(figures: dict[str, Figures], gateway: str) -> dict[str, float]:
    """The comparisons the goals are stated in, for the contender named `gateway`."""
    out: dict[str, float] = {}
    ours = figures.get(gateway)
    if ours is None:
        return out
    if "upstream" in figures:
        out["overhead_p50_ms"] = ours.p50_ms - figures["upstream"].p50_ms
    if "litellm" in figures:
        out["rps_vs_litellm"] = _ratio(ours.rps, figures["litellm"].rps)
        out["p50_vs_litellm_ms"] = ours.p50_ms - figures["litellm"].p50_ms
    if "forwarder" in figures:
        out["rps_vs_forwarder"] = _ratio(ours.rps, figures["forwarder"].rps)
        out["p50_vs_forwarder_ms"] = ours.p50_ms - figures["forwarder"].p50_ms
    return out


def _f(value: float, digits: int = 1) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def table(figures: dict[str, Figures], concurrency: int) -> str:
    rows = [
        "| contender | p50 ms | p99 ms | req/s at "
        f"{concurrency} (min–max) | TTFT p50 ms | peak RSS MB | errors |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for f in figures.values():
        memory = ", ".join(f"{label} {mb:.0f}" for label, mb in f.peak_rss_mb.items()) or "–"
        spread = f"{_f(f.rps, 0)} ({_f(f.rps_spread[0], 0)}–{_f(f.rps_spread[1], 0)})"
        rows.append(
            f"| {f.name} | {_f(f.p50_ms, 2)} | {_f(f.p99_ms, 2)} | {spread} | "
            f"{_f(f.ttft_p50_ms, 2)} | {memory} | {f.errors} |"
        )
    return "\n".join(rows)


def verdicts(measured: dict[str, float]) -> list[str]:
    lines = []
    if "overhead_p50_ms" in measured:
        value = measured["overhead_p50_ms"]
        ok = "meets" if value <= GOAL_OVERHEAD_MS else "misses"
        lines.append(
            f"Switchyard p50 − upstream p50 = {value:.2f} ms ({ok} the ≤ {GOAL_OVERHEAD_MS:.0f} ms "
            "goal)"
        )
    if "rps_vs_litellm" in measured:
        value = measured["rps_vs_litellm"]
        ok = "meets" if value >= GOAL_VS_LITELLM else "misses"
        lines.append(
            f"Switchyard req/s ÷ LiteLLM req/s = {value:.2f}× ({ok} the ≥ {GOAL_VS_LITELLM:.0f}× "
            "goal)"
        )
    if "rps_vs_forwarder" in measured:
        lines.append(
            f"Switchyard vs the bare Ray Serve forwarder: {measured['rps_vs_forwarder']:.2f}× its "
            f"req/s, {measured['p50_vs_forwarder_ms']:+.2f} ms p50"
        )
    return lines
