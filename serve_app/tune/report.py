"""What `switchyard tune` leaves behind: the raw JSON, the plots, and the printed verdict."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from serve_app.load.shapes import Shape
from serve_app.tune.plots import Series, write_plots
from serve_app.tune.results import cheapest_meeting, latency_over_time, render_ranking
from serve_app.tune.runner import DISTORTIONS, CandidateRun


@dataclass(frozen=True)
class Verdict:
    slo_p99_s: float
    max_failed_share: float
    speedup: float

    def chosen(self, runs: Sequence[CandidateRun]) -> str | None:
        best = cheapest_meeting(
            [r.result for r in runs], p99_s=self.slo_p99_s, max_failed_share=self.max_failed_share
        )
        return None if best is None else best.name

    def ranking(self, runs: Sequence[CandidateRun]) -> str:
        return render_ranking(
            [r.result for r in runs], p99_s=self.slo_p99_s, max_failed_share=self.max_failed_share
        )

    def sentence(self, runs: Sequence[CandidateRun]) -> str:
        chosen = self.chosen(runs)
        slo = f"p99 ≤ {self.slo_p99_s * 1000:.0f} ms with ≤ {self.max_failed_share:.0%} failed"
        if chosen is None:
            return f"No candidate met the SLO ({slo})."
        return f"Cheapest candidate meeting the SLO ({slo}): {chosen}"


def _window_s(runs: Sequence[CandidateRun]) -> float:
    """Latency windows: about 30 over the run, none under a second."""
    end = max((o.sent_s for r in runs for o in r.outcomes), default=1.0)
    return max(1.0, end / 30)


def write_report(
    runs: Sequence[CandidateRun],
    out_dir: Path,
    *,
    verdict: Verdict,
    shape: Shape,
    shape_spec: str,
    deployment: str,
) -> list[Path]:
    """results.json, replicas.png and latency.png in `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    window_s = _window_s(runs)
    latency = {r.candidate.name: latency_over_time(r.outcomes, window_s) for r in runs}
    raw: dict[str, Any] = {
        "deployment": deployment,
        "shape": shape_spec,
        "speedup": verdict.speedup,
        "slo_p99_s": verdict.slo_p99_s,
        "max_failed_share": verdict.max_failed_share,
        "chosen": verdict.chosen(runs),
        "distortions": DISTORTIONS,
        "candidates": [
            {
                "name": r.candidate.name,
                "autoscaling": r.candidate.autoscaling,
                "deployed_autoscaling": r.deployed_autoscaling,
                "max_ongoing_requests": r.max_ongoing_requests,
                "result": r.result.as_dict(),
                "samples": [asdict(s) for s in r.samples],
                "latency_windows": [asdict(w) for w in latency[r.candidate.name]],
                "calls": [asdict(o) for o in r.outcomes],
            }
            for r in runs
        ],
    }
    results = out_dir / "results.json"
    results.write_text(json.dumps(raw, indent=1))
    plots = write_plots(
        [Series(r.candidate.name, r.samples, latency[r.candidate.name]) for r in runs],
        out_dir,
        speedup=verdict.speedup,
        slo_p99_s=verdict.slo_p99_s,
        rate_at=shape.rate_at,
        duration_s=shape.duration_s,
    )
    return [results, *plots]
