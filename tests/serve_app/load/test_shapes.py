"""Load shapes, their command-line specs, CSV traces and the arrival schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_app.load.shapes import (
    Diurnal,
    Ramp,
    ShapeError,
    Spike,
    Steady,
    Trace,
    compressed,
    load_trace,
    parse_shape,
    schedule,
)


def test_spike_is_base_then_peak_then_base() -> None:
    spike = parse_shape("spike:base=1,peak=8,at=30,for=20,duration=90")
    assert isinstance(spike, Spike)
    assert [spike.rate_at(t) for t in (0, 29.9, 30, 49.9, 50, 89)] == [1, 1, 8, 8, 1, 1]
    assert spike.duration_s == 90


def test_ramp_and_diurnal_follow_their_curves() -> None:
    ramp = parse_shape("ramp:from=2,to=10,duration=100")
    assert isinstance(ramp, Ramp)
    assert ramp.rate_at(0) == 2 and ramp.rate_at(50) == 6 and ramp.rate_at(100) == 10
    day = parse_shape("diurnal:low=1,high=9,duration=240")
    assert isinstance(day, Diurnal)
    assert day.rate_at(0) == pytest.approx(1)  # night
    assert day.rate_at(120) == pytest.approx(9)  # midday
    assert day.rate_at(60) == pytest.approx(5)


def test_spec_sizes_the_requests() -> None:
    steady = parse_shape("steady:rate=3,duration=10,prompt=500,output=40")
    assert steady.tokens_at(5) == (500, 40)


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("wave:rate=1", "unknown shape 'wave'"),
        ("steady:speed=3", "'speed=3' is not one of rate=, duration=, prompt=, output="),
        ("spike:peak=lots", "peak='lots' is not a number"),
        ("ramp:from=-1", "must be a number ≥ 0"),
        ("steady:duration=0", "duration must be above 0"),
        ("trace:", "trace needs a file"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, names: str) -> None:
    with pytest.raises(ShapeError, match=names.replace("(", r"\(").replace(")", r"\)")):
        parse_shape(spec)


def test_even_arrivals_follow_the_rate_exactly() -> None:
    arrivals = schedule(Steady(rate=4, duration_s=10), arrivals="even")
    assert len(arrivals) == 40
    assert arrivals[0].at_s == pytest.approx(0.125)
    assert arrivals[1].at_s - arrivals[0].at_s == pytest.approx(0.25)


def test_poisson_arrivals_crowd_into_the_spike_and_repeat_with_the_seed() -> None:
    spike = Spike(base_rate=2, peak_rate=40, at_s=10, length_s=5, duration_s=30)
    arrivals = schedule(spike, seed=7)
    in_spike = [a for a in arrivals if 10 <= a.at_s < 15]
    # 200 expected in the spike, 50 outside it; a Poisson count this far off would be a bug.
    assert 150 < len(in_spike) < 250
    assert 25 < len(arrivals) - len(in_spike) < 80
    assert schedule(spike, seed=7) == arrivals
    assert schedule(spike, seed=8) != arrivals
    assert all(0 <= a.at_s < 30 for a in arrivals)


def test_compressed_shape_keeps_rates_and_shrinks_time() -> None:
    day = Diurnal(low_rate=1, high_rate=9, duration_s=86_400)
    fast = compressed(day, 1440)  # a day in a minute
    assert fast.duration_s == pytest.approx(60)
    assert fast.rate_at(30) == pytest.approx(9)
    assert len(schedule(fast, arrivals="even")) == pytest.approx(300, abs=2)  # mean rate 5/s


def test_trace_rows_hold_until_the_next(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text(
        "time_s,requests_per_s,prompt_tokens,output_tokens\n0,2,100,50\n10,6,800,20\n20,1,10,10\n"
    )
    trace = parse_shape(f"trace:{path}")
    assert isinstance(trace, Trace)
    assert trace.duration_s == 30  # the last row lasts as long as the step before it
    assert trace.rate_at(5) == 2 and trace.rate_at(10) == 6 and trace.rate_at(25) == 1
    assert trace.tokens_at(12) == (800, 20)
    arrivals = schedule(trace, arrivals="even")
    assert len(arrivals) == 20 + 60 + 10
    assert {(a.prompt_tokens, a.output_tokens) for a in arrivals if 10 <= a.at_s < 20} == {
        (800, 20)
    }


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("time,rps\n0,1\n", "the header lacks time_s, requests_per_s, prompt_tokens"),
        ("time_s,requests_per_s,prompt_tokens,output_tokens\n", "no rows"),
        (
            "time_s,requests_per_s,prompt_tokens,output_tokens\n0,1,10,10\n0,2,10,10\n",
            "line 3: time_s must increase",
        ),
        (
            "time_s,requests_per_s,prompt_tokens,output_tokens\n0,fast,10,10\n",
            "line 2: time_s and requests_per_s must be numbers",
        ),
        (
            "time_s,requests_per_s,prompt_tokens,output_tokens\n0,1,-10,10\n",
            "line 2: a value is negative",
        ),
    ],
)
def test_bad_traces_name_the_line(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ShapeError, match=names):
        load_trace(path)


def test_missing_trace_file_is_a_shape_error(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match="cannot read trace"):
        load_trace(tmp_path / "nope.csv")
