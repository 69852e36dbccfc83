"""The PNGs `switchyard tune` writes: replicas over time, and p99 latency over time, one line per
candidate, on the load's own clock (wall seconds × speedup). Needs matplotlib (the `evidence`
extra)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from serve_app.tune.results import LatencyWindow
from serve_app.tune.sampler import Sample


@dataclass(frozen=True)
class Series:
    name: str
    samples: Sequence[Sample]
    latency: Sequence[LatencyWindow]


def write_plots(
    series: Sequence[Series],
    out_dir: Path,
    *,
    speedup: float,
    slo_p99_s: float,
    rate_at: Callable[[float], float],
    duration_s: float,
) -> list[Path]:
    """replicas.png and latency.png in `out_dir`; `rate_at` is the load's rate on its own clock."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, and no GUI toolkit in a notebook's kernel
    import matplotlib.pyplot as plt

    clock = f"time on the load's clock, s (wall × {speedup:g})" if speedup != 1 else "time, s"
    grid = [duration_s * i / 400 for i in range(401)]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for s in series:
        ax.step(
            [x.t_s * speedup for x in s.samples],
            [x.replicas for x in s.samples],
            where="post",
            label=s.name,
        )
    ax.set_xlabel(clock)
    ax.set_ylabel("running replicas")
    rate_ax = ax.twinx()
    rate_ax.plot(grid, [rate_at(t) for t in grid], color="grey", linestyle=":", label="load")
    rate_ax.set_ylabel("load, requests/s (dotted)")
    ax.legend(loc="upper left")
    ax.set_title("Replicas under the load")
    replicas = out_dir / "replicas.png"
    fig.tight_layout()
    fig.savefig(replicas, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for s in series:
        points = [w for w in s.latency if w.p99_s is not None]
        ax.plot(
            [w.t_s * speedup for w in points],
            [(w.p99_s or 0) * 1000 for w in points],
            marker=".",
            label=f"{s.name} p99",
        )
    ax.axhline(slo_p99_s * 1000, color="red", linestyle="--", label="SLO (p99)")
    ax.set_xlabel(clock)
    ax.set_ylabel("latency, ms (by send time)")
    ax.set_yscale("log")
    ax.legend(loc="upper left")
    ax.set_title("p99 latency under the load")
    latency = out_dir / "latency.png"
    fig.tight_layout()
    fig.savefig(latency, dpi=110)
    plt.close(fig)
    return [replicas, latency]
