"""Driving the load generator from the benchmark's own process, and accounting for what a burst
cost each process on the path."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from benchmarks import processes
from benchmarks.load import Plan, Target
from benchmarks.servers import ROOT


def run_load(plan: Plan) -> dict[str, Any]:
    """Run `plan` in a fresh load-generator process; its raw results."""
    payload = {**asdict(plan), "targets": [asdict(t) for t in plan.targets]}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-4000:]}")
    results: dict[str, Any] = json.loads(done.stdout)
    return results


def measured_burst(
    target: Target, pids: dict[str, int], requests: int, concurrency: int
) -> dict[str, Any]:
    """`target` alone: `requests` calls, `concurrency` in flight. Returns its req/s, the peak RSS
    of each process in `pids` during the burst, and the CPU each spent per request.

    CPU per request is the figure that noise on a shared machine disturbs least: another
    program's load stretches latencies and cuts req/s, but barely changes how much CPU a request
    costs each process. It counts the processes' background work too (the breaker sync, metrics),
    which is part of what serving costs.
    """
    for pid in pids.values():
        processes.reset_peak(pid)
    plan = Plan(
        targets=[target],
        phases=["concurrent"],
        rounds=1,
        requests=requests,
        concurrency=concurrency,
        warmup=0,
    )
    before = {label: processes.cpu_seconds(pid) for label, pid in pids.items()}
    with processes.RssSampler(pids) as sampler:
        samples = run_load(plan)["samples"][target.name]
    after = {label: processes.cpu_seconds(pid) for label, pid in pids.items()}
    done, seconds = samples["bursts"][-1]
    cpu_ms: dict[str, float] = {}
    for label, end in after.items():
        start = before[label]
        if end is not None and start is not None:
            cpu_ms[label] = (end - start) * 1000 / max(done, 1)
    return {
        "rps": done / seconds if seconds else 0.0,
        "errors": len(samples["errors"]),
        "first_errors": samples["errors"][:3],
        "latency_ms": samples["burst_latency_ms"],
        "peak_rss_mb": {
            label: mb for label, pid in pids.items() if (mb := processes.peak_rss_mb(pid))
        },
        "sampled_peak_rss_mb": sampler.peaks_mb,
        "cpu_ms_per_request": cpu_ms,
    }
