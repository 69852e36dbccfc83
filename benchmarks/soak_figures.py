"""The soak's figures from its samples: per process, RSS and open descriptors over the run, and
the RSS trend as a least-squares slope; the tables it prints. Pure functions, no Ray.

A slope over the whole run mixes warm-up (imports, caches, connection pools, the allocator
settling) with what a leak looks like; the slope over the second half of the run alone is the
one that says whether memory keeps growing once the process is warm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds since the load started
    rss_mb: float
    fds: int


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in value per hour; None with fewer than
    two distinct times (no line to fit)."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * SECONDS_PER_HOUR


@dataclass(frozen=True)
class ProcessFigures:
    label: str
    pid: int
    samples: int
    rss_first_mb: float
    rss_last_mb: float
    rss_max_mb: float
    slope_mb_per_h: float | None
    second_half_slope_mb_per_h: float | None  # samples at or after the run's midpoint
    fds_first: int
    fds_last: int
    fds_max: int


def process_figures(
    label: str, pid: int, samples: Sequence[Sample], midpoint_s: float
) -> ProcessFigures:
    """`samples` in time order, at least one. `midpoint_s`: the run's, the same for every
    process, so that second halves compare."""
    rss = [(s.t_s, s.rss_mb) for s in samples]
    return ProcessFigures(
        label=label,
        pid=pid,
        samples=len(samples),
        rss_first_mb=samples[0].rss_mb,
        rss_last_mb=samples[-1].rss_mb,
        rss_max_mb=max(s.rss_mb for s in samples),
        slope_mb_per_h=slope_per_hour(rss),
        second_half_slope_mb_per_h=slope_per_hour([p for p in rss if p[0] >= midpoint_s]),
        fds_first=samples[0].fds,
        fds_last=samples[-1].fds,
        fds_max=max(s.fds for s in samples),
    )


def _slope(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def process_table(figures: Sequence[ProcessFigures]) -> str:
    header = (
        "process",
        "pid",
        "samples",
        "RSS first / last / max (MB)",
        "slope MB/h (run)",
        "slope MB/h (2nd half)",
        "fds first / last / max",
    )
    rows = [
        (
            f.label,
            str(f.pid),
            str(f.samples),
            f"{f.rss_first_mb:.0f} / {f.rss_last_mb:.0f} / {f.rss_max_mb:.0f}",
            _slope(f.slope_mb_per_h),
            _slope(f.second_half_slope_mb_per_h),
            f"{f.fds_first} / {f.fds_last} / {f.fds_max}",
        )
        for f in figures
    ]
    return markdown(header, rows)


def calls_table(by_kind: Mapping[str, Mapping[str, int]], columns: Sequence[str]) -> str:
    """`by_kind`: call kind -> {outcome: count}; one row per kind and a total row."""
    header = ("calls", *columns, "total")
    rows = []
    totals = dict.fromkeys(columns, 0)
    for kind in sorted(by_kind):
        counts = [by_kind[kind].get(c, 0) for c in columns]
        for c, n in zip(columns, counts, strict=True):
            totals[c] += n
        rows.append((kind, *(str(n) for n in counts), str(sum(counts))))
    rows.append(("**all**", *(str(totals[c]) for c in columns), str(sum(totals.values()))))
    return markdown(header, rows)


def plot_rss(series: Mapping[str, Sequence[Sample]], path: Path) -> None:
    """RSS over time, one line per process, into a PNG (needs matplotlib: the evidence extra):
    on the left as it is (log scale: the local model's engine dwarfs the rest), on the right as
    growth since the process's first sample, where a leak shows as a line that keeps rising."""
    import matplotlib

    matplotlib.use("Agg")  # a file only, no display
    import matplotlib.pyplot as plt

    figure, (absolute, growth) = plt.subplots(1, 2, figsize=(15, 6))
    styles = ("-", "--", ":", "-.")
    for n, (label, samples) in enumerate(series.items()):
        minutes = [s.t_s / 60 for s in samples]
        style = styles[(n // 10) % len(styles)]  # the colour cycle has ten colours
        absolute.plot(minutes, [s.rss_mb for s in samples], style, label=label)
        growth.plot(minutes, [s.rss_mb - samples[0].rss_mb for s in samples], style)
    absolute.set_yscale("log")
    absolute.set_ylabel("RSS (MB, log scale)")
    growth.set_ylabel("RSS growth since the first sample (MB)")
    for axes in (absolute, growth):
        axes.set_xlabel("minutes under load")
    figure.suptitle("Switchyard soak: resident memory per process")
    figure.legend(fontsize="small", loc="center right")
    figure.tight_layout(rect=(0, 0, 0.7, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
