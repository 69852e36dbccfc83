"""What a load run came to: counts, failures by status, latency and TTFT percentiles, rates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from serve_app.load.generator import Outcome


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`-th percentile (0 < q ≤ 100): a value that was measured, never an
    interpolation between two; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LoadSummary:
    sent: int
    answered: int
    failed: dict[str, int]  # status -> count
    latency_p50_s: float | None  # answered calls only
    latency_p99_s: float | None
    ttft_p50_s: float | None  # answered streamed calls only
    ttft_p99_s: float | None
    offered_rate: float  # requests sent per second of the schedule
    achieved_rate: float  # answers per second of the run's wall time
    late_p99_s: float | None  # how late the generator sent, against the schedule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(outcomes: Sequence[Outcome], *, duration_s: float, wall_s: float) -> LoadSummary:
    """`wall_s`: how long the run took; the achieved rate is over it or the schedule's duration,
    whichever is longer (a run whose last call came early did not serve faster)."""
    span = max(duration_s, wall_s)
    ok = [o for o in outcomes if o.ok]
    ttfts = [o.ttft_s for o in ok if o.ttft_s is not None]
    return LoadSummary(
        sent=len(outcomes),
        answered=len(ok),
        failed=dict(sorted(Counter(o.status for o in outcomes if not o.ok).items())),
        latency_p50_s=percentile([o.latency_s for o in ok], 50),
        latency_p99_s=percentile([o.latency_s for o in ok], 99),
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p99_s=percentile(ttfts, 99),
        offered_rate=len(outcomes) / duration_s if duration_s > 0 else 0.0,
        achieved_rate=len(ok) / span if span > 0 else 0.0,
        late_p99_s=percentile([max(0.0, o.sent_s - o.due_s) for o in outcomes], 99),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def render(summary: LoadSummary) -> str:
    failed = ", ".join(f"{status}: {n}" for status, n in summary.failed.items()) or "none"
    return "\n".join(
        [
            f"sent {summary.sent}, answered {summary.answered}, failed {failed}",
            f"latency  p50 {_ms(summary.latency_p50_s)}  p99 {_ms(summary.latency_p99_s)}",
            f"TTFT     p50 {_ms(summary.ttft_p50_s)}  p99 {_ms(summary.ttft_p99_s)}"
            + ("" if summary.ttft_p50_s is not None else "  (streamed calls only)"),
            f"rate     offered {summary.offered_rate:.2f}/s, achieved {summary.achieved_rate:.2f}/s"
            f"; generator late p99 {_ms(summary.late_p99_s)}",
        ]
    )
