"""From what one candidate's run recorded to a verdict: its figures, the ranking, the choice.

Pure functions over recorded series (the calls' outcomes and the sampler's samples), so the
ranking and the SLO choice are tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from serve_app.commands._table import table
from serve_app.load.generator import Outcome
from serve_app.load.summary import percentile, summarise
from serve_app.tune.sampler import Sample


@dataclass(frozen=True)
class CandidateResult:
    name: str
    sent: int
    answered: int
    failed: dict[str, int]
    latency_p50_s: float | None
    latency_p99_s: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    peak_replicas: int
    # Replica-hours on the load's own clock (wall time × speedup): what the candidate would use
    # over the uncompressed load.
    replica_hours: float
    cost_usd: float | None  # replica-hours × the model's gpu_hour_usd; None without a price

    @property
    def failed_share(self) -> float:
        return sum(self.failed.values()) / self.sent if self.sent else 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replica_hours(samples: Sequence[Sample], speedup: float) -> float:
    """Running replicas integrated over time, each sample's count held until the next one."""
    seconds = sum(a.replicas * (b.t_s - a.t_s) for a, b in pairwise(samples))
    return seconds * speedup / 3600


def result_of(
    name: str,
    outcomes: Sequence[Outcome],
    samples: Sequence[Sample],
    *,
    speedup: float,
    gpu_hour_usd: float | None,
) -> CandidateResult:
    summary = summarise(outcomes, duration_s=0, wall_s=0)
    hours = replica_hours(samples, speedup)
    return CandidateResult(
        name=name,
        sent=summary.sent,
        answered=summary.answered,
        failed=summary.failed,
        latency_p50_s=summary.latency_p50_s,
        latency_p99_s=summary.latency_p99_s,
        ttft_p50_s=summary.ttft_p50_s,
        ttft_p99_s=summary.ttft_p99_s,
        peak_replicas=max((s.replicas for s in samples), default=0),
        replica_hours=hours,
        cost_usd=None if gpu_hour_usd is None else hours * gpu_hour_usd,
    )


def meets_slo(result: CandidateResult, *, p99_s: float, max_failed_share: float) -> bool:
    return (
        result.latency_p99_s is not None
        and result.latency_p99_s <= p99_s
        and result.failed_share <= max_failed_share
    )


def _cost(result: CandidateResult) -> float:
    # Within one deployment the price per replica-hour is the same for every candidate, so
    # replica-hours order them when the model has no price.
    return result.cost_usd if result.cost_usd is not None else result.replica_hours


def rank(
    results: Sequence[CandidateResult], *, p99_s: float, max_failed_share: float
) -> list[tuple[CandidateResult, bool]]:
    """Candidates that meet the SLO first, cheapest first; then the rest, lowest p99 first."""

    def key(result: CandidateResult) -> tuple[int, float, float]:
        ok = meets_slo(result, p99_s=p99_s, max_failed_share=max_failed_share)
        p99 = result.latency_p99_s if result.latency_p99_s is not None else float("inf")
        return (0, _cost(result), p99) if ok else (1, p99, _cost(result))

    ordered = sorted(results, key=key)
    return [(r, meets_slo(r, p99_s=p99_s, max_failed_share=max_failed_share)) for r in ordered]


def cheapest_meeting(
    results: Sequence[CandidateResult], *, p99_s: float, max_failed_share: float
) -> CandidateResult | None:
    ranked = rank(results, p99_s=p99_s, max_failed_share=max_failed_share)
    return ranked[0][0] if ranked and ranked[0][1] else None


@dataclass(frozen=True)
class LatencyWindow:
    t_s: float  # the window's middle, wall seconds since the load started
    calls: int
    p50_s: float | None
    p99_s: float | None


def latency_over_time(outcomes: Sequence[Outcome], window_s: float) -> list[LatencyWindow]:
    """Answered calls' latency percentiles per window of send time (failed calls: none)."""
    if not outcomes:
        return []
    end = max(o.sent_s for o in outcomes)
    windows = []
    start = 0.0
    while start <= end:
        inside = [o.latency_s for o in outcomes if o.ok and start <= o.sent_s < start + window_s]
        windows.append(
            LatencyWindow(
                t_s=start + window_s / 2,
                calls=len(inside),
                p50_s=percentile(inside, 50),
                p99_s=percentile(inside, 99),
            )
        )
        start += window_s
    return windows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def render_ranking(
    results: Sequence[CandidateResult], *, p99_s: float, max_failed_share: float
) -> str:
    rows = []
    for place, (r, ok) in enumerate(
        rank(results, p99_s=p99_s, max_failed_share=max_failed_share), start=1
    ):
        rows.append(
            [
                str(place),
                r.name,
                "yes" if ok else "no",
                _ms(r.latency_p50_s),
                _ms(r.latency_p99_s),
                _ms(r.ttft_p99_s),
                f"{sum(r.failed.values())}/{r.sent}",
                str(r.peak_replicas),
                f"{r.replica_hours:.3f}",
                "-" if r.cost_usd is None else f"{r.cost_usd:.2f}",
            ]
        )
    return table(
        [
            "#",
            "candidate",
            f"p99 ≤ {p99_s * 1000:.0f} ms",
            "p50 ms",
            "p99 ms",
            "TTFT p99 ms",
            "failed",
            "peak replicas",
            "replica-h",
            "cost USD",
        ],
        rows,
        right={0, 3, 4, 5, 6, 7, 8, 9},
    )
