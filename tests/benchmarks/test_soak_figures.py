"""The soak's figures: the slope that says whether a process keeps growing, and its tables."""

from __future__ import annotations

import pytest

from benchmarks.soak_figures import (
    Sample,
    calls_table,
    process_figures,
    process_table,
    slope_per_hour,
)


def test_slope_of_a_line_is_its_growth_per_hour() -> None:
    # 1 MB every 10 s is 360 MB an hour.
    points = [(t, 100.0 + t / 10) for t in range(0, 600, 10)]
    assert slope_per_hour(points) == pytest.approx(360.0)


def test_slope_of_flat_noise_is_near_zero() -> None:
    points = [(float(t), 100.0 + (1 if t % 20 else -1)) for t in range(0, 1800, 10)]
    assert abs(slope_per_hour(points) or 0.0) < 0.5


def test_no_slope_without_two_distinct_times() -> None:
    assert slope_per_hour([]) is None
    assert slope_per_hour([(5.0, 1.0)]) is None
    assert slope_per_hour([(5.0, 1.0), (5.0, 2.0)]) is None


def test_second_half_slope_leaves_warm_up_out() -> None:
    # Grows 50 MB in the first 5 minutes, then flat: a leak-free process warming up.
    samples = [Sample(t, 100.0 + min(t, 300.0) / 6, 40) for t in range(0, 1200, 10)]
    figures = process_figures("ingress", 42, samples, midpoint_s=600.0)
    assert figures.slope_mb_per_h is not None and figures.slope_mb_per_h > 10
    assert figures.second_half_slope_mb_per_h == pytest.approx(0.0)
    assert (figures.rss_first_mb, figures.rss_last_mb, figures.rss_max_mb) == (100, 150, 150)


def test_descriptors_first_last_max() -> None:
    samples = [Sample(0, 1, 30), Sample(10, 1, 90), Sample(20, 1, 35)]
    figures = process_figures("CostLedger", 7, samples, midpoint_s=10)
    assert (figures.fds_first, figures.fds_last, figures.fds_max) == (30, 35, 90)


def test_process_table_has_a_row_per_process() -> None:
    one = process_figures("ingress", 1, [Sample(0, 200, 40), Sample(60, 201, 41)], 30)
    text = process_table([one])
    row = "| ingress | 1 | 2 | 200 / 201 / 201 | +60.0 | – | 40 / 41 / 41 |"
    assert text.splitlines()[2] == row


def test_calls_table_totals_every_column() -> None:
    text = calls_table(
        {"fast plain": {"answered": 10, "lost": 1}, "smart streamed": {"answered": 5}},
        ("answered", "lost"),
    )
    assert text.splitlines()[-1] == "| **all** | 15 | 1 | 16 |"
