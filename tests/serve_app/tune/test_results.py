"""Ranking candidates and choosing the cheapest that meets the SLO, from recorded series."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.loader import load_directory
from serve_app.load.generator import Outcome
from serve_app.tune.candidates import (
    CandidatesError,
    compressed_autoscaling,
    load_spec,
    resolve_target,
)
from serve_app.tune.results import (
    cheapest_meeting,
    latency_over_time,
    rank,
    render_ranking,
    replica_hours,
    result_of,
)
from serve_app.tune.sampler import Sample


def samples(replicas: list[int], step_s: float = 1.0) -> list[Sample]:
    return [
        Sample(
            t_s=i * step_s,
            replicas=r,
            starting=0,
            in_flight=0,
            serve_requests=None,
            queued=None,
            answered=0,
            failed=0,
        )
        for i, r in enumerate(replicas)
    ]


def calls(latencies: list[float], failed: int = 0) -> list[Outcome]:
    ok = [
        Outcome(due_s=i, sent_s=i, status="200", latency_s=x, ttft_s=x / 2)
        for i, x in enumerate(latencies)
    ]
    bad = [Outcome(due_s=0, sent_s=0, status="503", latency_s=0.01, ttft_s=None)] * failed
    return ok + bad


def test_replica_hours_hold_each_count_until_the_next_sample_on_the_load_clock() -> None:
    # 1 replica for 2 s, then 3 for 2 s: 8 replica-seconds of wall time, × speedup 450.
    assert replica_hours(samples([1, 1, 3, 3, 0]), speedup=450) == pytest.approx(1.0)


def test_cheapest_candidate_meeting_the_slo_is_chosen() -> None:
    fast_costly = result_of(
        "big", calls([0.2] * 100), samples([4] * 11), speedup=360, gpu_hour_usd=12.0
    )
    cheap_slow = result_of(
        "small", calls([0.2] * 90 + [3.0] * 10), samples([1] * 11), speedup=360, gpu_hour_usd=12.0
    )
    middle = result_of(
        "middle", calls([0.3] * 100), samples([2] * 11), speedup=360, gpu_hour_usd=12.0
    )
    results = [fast_costly, cheap_slow, middle]
    assert middle.cost_usd == pytest.approx(2.0 * 12.0)  # 2 replicas × 10 s × 360 = 2 h
    chosen = cheapest_meeting(results, p99_s=1.0, max_failed_share=0.0)
    assert chosen is not None and chosen.name == "middle"
    order = [(r.name, ok) for r, ok in rank(results, p99_s=1.0, max_failed_share=0.0)]
    assert order == [("middle", True), ("big", True), ("small", False)]
    # A looser SLO lets the cheapest through.
    loose = cheapest_meeting(results, p99_s=5.0, max_failed_share=0.0)
    assert loose is not None and loose.name == "small"
    assert "middle" in render_ranking(results, p99_s=1.0, max_failed_share=0.0)


def test_failed_calls_keep_a_candidate_from_meeting_the_slo() -> None:
    flaky = result_of(
        "flaky", calls([0.1] * 95, failed=5), samples([1, 1]), speedup=1, gpu_hour_usd=None
    )
    assert flaky.failed == {"503": 5}
    assert cheapest_meeting([flaky], p99_s=1.0, max_failed_share=0.01) is None
    assert cheapest_meeting([flaky], p99_s=1.0, max_failed_share=0.05) == flaky
    assert flaky.cost_usd is None  # no price: ranked by replica-hours


def test_latency_windows_follow_send_time() -> None:
    windows = latency_over_time(calls([0.1, 0.1, 2.0, 2.0]), window_s=2.0)
    assert [(w.calls, w.p99_s) for w in windows] == [(2, 0.1), (2, 2.0)]


def test_speedup_divides_every_time_key_defaults_included() -> None:
    scaled = compressed_autoscaling({"max_replicas": 3, "upscale_delay_s": 20}, 10)
    assert scaled == {
        "max_replicas": 3,
        "upscale_delay_s": 2.0,
        "downscale_delay_s": 60.0,
        "look_back_period_s": 3.0,
        "metrics_interval_s": 1.0,
    }
    assert compressed_autoscaling({"max_replicas": 3}, 1) == {"max_replicas": 3}


def test_candidates_file_errors_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("candidates:\n  - name: a\n    autoscaling: {max_replica: 3}\n")
    with pytest.raises(CandidatesError, match="unknown autoscaling keys \\['max_replica'\\]"):
        load_spec(path)
    path.write_text("candidates:\n  - {name: a, autoscaling: {}}\n  - {name: a, autoscaling: {}}\n")
    with pytest.raises(CandidatesError, match="candidate names repeat"):
        load_spec(path)


def test_targets_name_the_serve_deployment() -> None:
    directory = load_directory()
    local = resolve_target(directory, "workhorse")
    assert local.kind == "local" and local.deployment.startswith("local-")
    assert (
        local.gpu_hour_usd == directory.models[directory.resolved["workhorse"]].pricing.gpu_hour_usd
    )
    assert resolve_target(directory, "ingress").deployment == "ingress"
    assert resolve_target(directory, "anthropic").deployment == "cloud-anthropic"
    fast = resolve_target(directory, "fast")
    assert fast.kind == "cloud" and fast.model == directory.resolved["fast"]
