"""`switchyard tune` end to end: two candidates for the workhorse stand-in under a short spike.

It runs the command in a process of its own, as a user does: `tune` starts (and stops) a Ray
cluster of its own, which must not meet the session's in this process.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.ray,
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM's CPU build"),
]

CANDIDATES = """\
deployment: workhorse
candidates:
  - name: fixed-1
    autoscaling: {min_replicas: 1, max_replicas: 1}
  - name: up-to-2
    autoscaling: {min_replicas: 1, max_replicas: 2, target_ongoing_requests: 1,
                  upscale_delay_s: 5, downscale_delay_s: 300}
"""


def test_tune_ranks_two_candidates_and_writes_plots_and_json(tmp_path: Path) -> None:
    candidates = tmp_path / "candidates.yaml"
    candidates.write_text(CANDIDATES)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "serve_app.cli", "tune",
        "--candidates", str(candidates),
        "--shape", "spike:base=1,peak=6,at=10,for=20,duration=40,prompt=20,output=8",
        "--speedup", "10",
        "--slo-p99-ms", "60000",
        "--sample", "0.25",
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    assert "Cheapest candidate meeting the SLO (p99 ≤ 60000 ms" in done.stdout
    ranking = [line for line in done.stdout.splitlines() if line[:1] in ("1", "2")]
    assert sorted(line.split()[1] for line in ranking) == ["fixed-1", "up-to-2"]
    results = json.loads((out / "results.json").read_text())
    assert results["chosen"] in ("fixed-1", "up-to-2")
    for candidate in results["candidates"]:
        assert candidate["result"]["sent"] > 0
        assert candidate["result"]["answered"] == candidate["result"]["sent"]
        assert candidate["samples"] and max(s["replicas"] for s in candidate["samples"]) >= 1
        # The delays went to Serve divided by the speedup.
        assert candidate["deployed_autoscaling"]["downscale_delay_s"] in (30.0, 60.0)
    for name in ("replicas.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
