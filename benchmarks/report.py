"""From raw samples to the figures of BENCHMARKS.md: percentiles, requests/s, ratios, a table."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

# Goals of issue 10 (Performance): against the bare forwarder on the same fast paths.
GOAL_P50_OVER_FORWARDER_MS = 1.0  # Switchyard p50 − forwarder p50
GOAL_P99_OVER_P50 = 2.0  # Switchyard's own p99 ÷ its p50
GOAL_RPS_VS_FORWARDER = 0.8  # Switchyard req/s ÷ forwarder req/s at the run's concurrency
GOAL_VS_LITELLM = 4.0  # Switchyard req/s ÷ LiteLLM req/s
GOAL_CPU_VS_FORWARDER = 1.5  # CPU per request summed over the path's processes (sandbox aside)
GOAL_RSS_MB = 350.0  # peak RSS of each Ingress and CloudProxy replica at 200 concurrent


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
    round_p50_ms: tuple[float, ...] = ()  # each round's sequential p50, in order
    round_rps: tuple[float, ...] = ()  # each round's burst, in order

    @classmethod
    def of(cls, name: str, samples: dict[str, Any], memory: dict[str, float]) -> Figures:
        rates = [done / seconds for done, seconds in samples["bursts"] if seconds > 0]
        latencies, per_round, start = samples["latency_ms"], [], 0
        for size in samples.get("round_sizes", []):
            per_round.append(percentile(latencies[start : start + size], 50))
            start += size
        return cls(
            name=name,
            p50_ms=percentile(samples["latency_ms"], 50),
            p99_ms=percentile(samples["latency_ms"], 99),
            rps=statistics.median(rates) if rates else math.nan,
            rps_spread=(min(rates), max(rates)) if rates else (math.nan, math.nan),
            ttft_p50_ms=percentile(samples["ttft_ms"], 50),
            errors=len(samples["errors"]),
            peak_rss_mb=memory,
            round_p50_ms=tuple(per_round),
            round_rps=tuple(rates),
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
    out["p99_over_p50"] = _ratio(ours.p99_ms, ours.p50_ms)
    if "forwarder" in figures:
        out["rps_vs_forwarder"] = _ratio(ours.rps, figures["forwarder"].rps)
        out["p50_vs_forwarder_ms"] = ours.p50_ms - figures["forwarder"].p50_ms
    return out


def cpu_ratio(bursts: dict[str, dict[str, Any]], gateway: str, baseline: str) -> float:
    """CPU per request summed over each contender's processes on the path, the upstream sandbox
    left out (it is the same for both), as the gateway's ÷ the baseline's."""

    def path_ms(name: str) -> float:
        cpu = bursts.get(name, {}).get("cpu_ms_per_request", {})
        return sum(ms for label, ms in cpu.items() if label != "sandbox")

    return _ratio(path_ms(gateway), path_ms(baseline))


def rounds_table(figures: dict[str, Figures]) -> str:
    """Every round's sequential p50 and burst req/s, per contender: rounds vary, so all show."""
    rows = ["| contender | p50 ms, each round | req/s, each round |", "| --- | --- | --- |"]
    for f in figures.values():
        p50s = ", ".join(_f(v, 2) for v in f.round_p50_ms) or "–"
        rates = ", ".join(_f(v, 0) for v in f.round_rps) or "–"
        rows.append(f"| {f.name} | {p50s} | {rates} |")
    return "\n".join(rows)


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


# Each goal: (key in the ratios, what it says, how its figure reads, at most (True) or at least).
_GOALS: tuple[tuple[str, str, str, float, bool], ...] = (
    (
        "p50_vs_forwarder_ms",
        "p50 over the bare forwarder",
        "{:+.2f} ms",
        GOAL_P50_OVER_FORWARDER_MS,
        True,
    ),
    ("p99_over_p50", "p99 ÷ p50", "{:.2f}×", GOAL_P99_OVER_P50, True),
    ("rps_vs_forwarder", "req/s ÷ the forwarder's", "{:.2f}×", GOAL_RPS_VS_FORWARDER, False),
    ("rps_vs_litellm", "req/s ÷ LiteLLM's", "{:.2f}×", GOAL_VS_LITELLM, False),
    (
        "cpu_vs_forwarder",
        "CPU per request ÷ the forwarder's",
        "{:.2f}×",
        GOAL_CPU_VS_FORWARDER,
        True,
    ),
    ("peak_rss_mb", "largest replica's peak RSS at 200 concurrent", "{:.0f} MB", GOAL_RSS_MB, True),
)


def verdicts(measured: dict[str, float]) -> list[str]:
    """Each goal of issue 10 the run measured, with its figure and whether it holds."""
    lines = []
    for key, words, form, goal, at_most in _GOALS:
        if key not in measured:
            continue
        value = measured[key]
        holds = value <= goal if at_most else value >= goal
        bound = ("≤ " if at_most else "≥ ") + form.format(goal).lstrip("+")
        lines.append(f"{words}: {form.format(value)} ({'meets' if holds else 'misses'} {bound})")
    return lines
