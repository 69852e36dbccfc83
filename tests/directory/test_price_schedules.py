"""Price schedules: prices that change on a date and by the time of day in a vendor's timezone.

The shipped entries are the cases the issue names: DeepSeek V4 Pro's peak hours (09:00-12:00 and
14:00-18:00 Beijing time on weekdays, off-peak at half), Gemini 4 Argon's rise on 2026-12-01 and
Gemini 3.8 Flash's half price until 2026-12-31. Every instant is given; no test reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deployments.ledger.cost import estimate_usd
from directory.loader import directory_from_dict, load_directory
from directory.pricing import upcoming_changes
from directory.schema import Directory
from serve_app.commands.route_cmd import explain_route
from tests.directory.helpers import MINI, Raw, entry, problems_of, read_raw, write_raw

TODAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday
PRO = "deepseek/deepseek-v4-pro"
ARGON = "google/gemini-4-argon"
FLASH = "google/gemini-3.8-flash"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def shipped() -> Directory:
    return load_directory(now=TODAY)


def price(directory: Directory, model: str, when: str) -> tuple[str, float, float, float | None]:
    applied = directory.models[model].pricing.in_force(at(when))
    return applied.label, applied.input, applied.output, applied.cached_input


# --- the price in force ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # The switch to peak/off-peak billing: 16:00 UTC 2026-08-16 is midnight in Beijing.
        ("2026-08-16T15:59:59+00:00", ("flat-2026", 0.435, 0.87, 0.003625)),
        ("2026-08-16T16:00:00+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        # Monday 2026-12-07: the morning peak is 01:00-04:00 UTC, the afternoon one 06:00-10:00.
        ("2026-12-07T00:59:59+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        ("2026-12-07T01:00:00+00:00", ("tod-2026-08/peak", 1.32, 3.96, 0.044)),
        ("2026-12-07T03:59:59+00:00", ("tod-2026-08/peak", 1.32, 3.96, 0.044)),
        ("2026-12-07T04:00:00+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        ("2026-12-07T09:30:00+00:00", ("tod-2026-08/peak", 1.32, 3.96, 0.044)),
        ("2026-12-07T10:00:00+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        # The same instant given in Beijing time: the offset, not the spelling, decides.
        ("2026-12-07T09:00:00+08:00", ("tod-2026-08/peak", 1.32, 3.96, 0.044)),
        # Saturday 10:00 Beijing time is weekday peak hours by the clock, but a weekend.
        ("2026-12-05T02:00:00+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        # Sunday 17:00 UTC is already Monday 01:00 in Beijing: Beijing's day counts, not UTC's.
        ("2026-12-06T17:00:00+00:00", ("tod-2026-08/off-peak", 0.66, 1.98, 0.022)),
        ("2026-12-07T01:30:00+00:00", ("tod-2026-08/peak", 1.32, 3.96, 0.044)),
    ],
)
def test_deepseek_v4_pro_is_priced_by_the_beijing_clock(
    shipped: Directory, when: str, expected: tuple[str, float, float, float | None]
) -> None:
    assert price(shipped, PRO, when) == expected


def test_argon_costs_twice_as_much_from_2026_12_01(shipped: Directory) -> None:
    assert price(shipped, ARGON, "2026-11-30T23:59:59+00:00") == ("introductory", 2.0, 10.0, 0.1)
    assert price(shipped, ARGON, "2026-12-01T00:00:00+00:00") == ("base", 4.0, 20.0, 0.2)


def test_flash_is_half_price_through_2026_12_31(shipped: Directory) -> None:
    assert price(shipped, FLASH, "2026-12-31T23:59:59+00:00") == ("base", 0.75, 3.75, 0.075)
    assert price(shipped, FLASH, "2027-01-01T00:00:00+00:00") == ("list-2027", 1.5, 7.5, 0.15)


def test_a_model_without_a_schedule_has_its_base_price_at_every_instant(
    shipped: Directory,
) -> None:
    model = next(m for m in shipped.models.values() if not m.pricing.schedule)
    for when in ("2020-01-01T00:00:00+00:00", "2026-12-07T01:00:00+00:00"):
        applied = model.pricing.in_force(at(when))
        assert (applied.label, applied.input) == ("base", model.pricing.input)


def test_a_naive_instant_is_refused(shipped: Directory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        shipped.models[PRO].pricing.in_force(datetime(2026, 12, 7, 9))


# --- a zone with daylight saving time ----------------------------------------------------------


def _with_schedule(raw: Raw, model_id: str, schedule: list[dict[str, Any]]) -> Raw:
    entry(raw, "models", model_id)["pricing"]["schedule"] = schedule
    return raw


NEW_YORK_PEAK = [
    {
        "label": "ny",
        "effective_from": "2026-01-01",
        "timezone": "America/New_York",
        "windows": [{"label": "peak", "hours": ["09:00-17:00"], "input": 2.0, "output": 8.0}],
        "default_label": "night",
        "input": 1.0,
        "output": 4.0,
        "source": "test data",
    }
]


def test_windows_follow_the_wall_clock_across_a_dst_change(tmp_path: Path) -> None:
    raw = _with_schedule(read_raw(MINI), "openai/gpt-5-mini", NEW_YORK_PEAK)
    pricing = load_directory(write_raw(tmp_path, raw), now=TODAY).models["openai/gpt-5-mini"]
    labels = {
        when: pricing.pricing.in_force(at(when)).label
        for when in (
            "2026-03-07T13:30:00+00:00",  # Saturday 08:30 EST (UTC-5): before the window
            "2026-03-08T13:30:00+00:00",  # Sunday, clocks went forward at 02:00: 09:30 EDT
            "2026-03-08T20:59:00+00:00",  # 16:59 EDT
            "2026-03-08T21:00:00+00:00",  # 17:00 EDT: the window has closed
            "2026-03-07T21:59:00+00:00",  # 16:59 EST the day before: an hour later in UTC
        )
    }
    assert labels == {
        "2026-03-07T13:30:00+00:00": "ny/night",
        "2026-03-08T13:30:00+00:00": "ny/peak",
        "2026-03-08T20:59:00+00:00": "ny/peak",
        "2026-03-08T21:00:00+00:00": "ny/night",
        "2026-03-07T21:59:00+00:00": "ny/peak",
    }


# --- what changes next -------------------------------------------------------------------------


def test_upcoming_changes_lists_dated_changes_within_the_horizon(shipped: Directory) -> None:
    flash, argon, pro = (shipped.models[m] for m in (FLASH, ARGON, PRO))
    assert upcoming_changes(flash, TODAY, timedelta(days=14)) == []
    [change] = upcoming_changes(flash, TODAY, timedelta(days=30))
    assert (change.at, change.label) == (datetime(2027, 1, 1, tzinfo=UTC), "list-2027")
    assert change.words == "$1.50 in / $7.50 out per Mtok"
    # A week before Argon's rise it is a change ahead; after it, none is left.
    [rise] = upcoming_changes(argon, datetime(2026, 11, 24, tzinfo=UTC), timedelta(days=14))
    assert (rise.at, rise.label) == (datetime(2026, 12, 1, tzinfo=UTC), "base")
    assert upcoming_changes(argon, TODAY) == []
    # DeepSeek's daily windows are how its current prices work, not changes ahead.
    assert upcoming_changes(pro, TODAY) == []


def test_route_shows_the_price_now_and_the_changes_ahead(shipped: Directory) -> None:
    text = explain_route(shipped, FLASH, now=TODAY)
    assert (
        "google/gemini-3.8-flash: from 2027-01-01 00:00 UTC, list-2027: "
        "$1.50 in / $7.50 out per Mtok"
    ) in text
    peak = explain_route(shipped, PRO, now=at("2026-12-07T02:00:00+00:00"))
    assert "deepseek/deepseek-v4-pro: now tod-2026-08/peak, $1.32 in / $3.96 out per Mtok" in peak
    [row] = [line.split() for line in peak.splitlines() if line.startswith("1 ")]
    assert row[5:7] == ["1.32", "3.96"]  # the chain table prices the model as of now
    off_peak = explain_route(shipped, PRO, now=at("2026-12-07T05:00:00+00:00"))
    assert "now tod-2026-08/off-peak, $0.66 in / $1.98 out per Mtok" in off_peak


# --- policies and budgets use today's price ----------------------------------------------------


def test_a_cheapest_policy_follows_a_dated_price_change(tmp_path: Path) -> None:
    # gpt-5-mini is the mini directory's cheapest cloud model; a dated rise makes it the dearest.
    raw = read_raw(MINI)
    picked = load_directory(write_raw(tmp_path / "plain", raw), now=TODAY).resolved["cheap"]
    rise = [
        {
            "effective_from": "2026-12-10",
            "input": 50.0,
            "output": 200.0,
            "source": "test data",
        }
    ]
    folder = write_raw(tmp_path / "rise", _with_schedule(raw, picked, rise))
    assert load_directory(folder, now=TODAY).resolved["cheap"] == picked
    after = load_directory(folder, now=datetime(2026, 12, 10, tzinfo=UTC))
    assert after.resolved["cheap"] != picked
    assert "from-2026-12-10" not in after.selections["cheap"].explanation


def test_a_time_of_day_price_does_not_flip_a_policy_by_the_hour(shipped: Directory) -> None:
    peak = load_directory(now=at("2026-12-07T02:00:00+00:00"))
    off_peak = load_directory(now=at("2026-12-07T05:00:00+00:00"))
    assert peak.resolved == off_peak.resolved


def test_a_budget_estimate_uses_the_price_in_force_when_the_call_is_made(
    shipped: Directory,
) -> None:
    pricing = shipped.models[PRO].pricing
    peak = estimate_usd(1_000_000, 1_000_000, pricing, at("2026-12-07T02:00:00+00:00"))
    off_peak = estimate_usd(1_000_000, 1_000_000, pricing, at("2026-12-07T05:00:00+00:00"))
    assert (peak, off_peak) == pytest.approx((1.32 + 3.96, 0.66 + 1.98))


def test_a_schedule_survives_a_deployments_user_config(shipped: Directory) -> None:
    # to_dict() writes dates as strings; the receiving replica must read them back as dates.
    again = directory_from_dict(shipped.to_dict(), now=TODAY)
    when = at("2026-12-07T02:00:00+00:00")
    assert again.models[PRO].pricing.in_force(when) == shipped.models[PRO].pricing.in_force(when)


# --- validation --------------------------------------------------------------------------------


def _problems(
    tmp_path: Path, schedule: list[dict[str, Any]], model: str = "openai/gpt-5-mini"
) -> list[str]:
    return problems_of(_with_schedule(read_raw(MINI), model, schedule), tmp_path)


def _period(**fields: Any) -> dict[str, Any]:
    return {"source": "test data", **fields}


def test_a_misspelt_timezone_is_named_with_the_nearest(tmp_path: Path) -> None:
    schedule = [
        _period(effective_from="2026-12-01", timezone="Asia/Shangai", input=1.0, output=2.0)
    ]
    assert (
        "models.yaml: models[openai/gpt-5-mini].pricing.schedule[0].timezone: "
        "unknown IANA timezone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?"
    ) in _problems(tmp_path, schedule)


def test_overlapping_date_ranges_are_refused(tmp_path: Path) -> None:
    schedule = [
        _period(label="promo", until="2026-12-31", input=1.0, output=2.0),
        _period(label="rise", effective_from="2026-12-20", input=3.0, output=4.0),
    ]
    assert (
        "models.yaml: models[openai/gpt-5-mini].pricing.schedule[1]: "
        "its days overlap schedule[0]'s (promo)"
    ) in _problems(tmp_path, schedule)


def test_dates_out_of_order_and_a_period_without_dates_are_refused(tmp_path: Path) -> None:
    schedule = [
        _period(effective_from="2026-12-10", until="2026-12-01", input=1.0, output=2.0),
        _period(label="always", input=1.0, output=2.0),
    ]
    problems = _problems(tmp_path, schedule)
    where = "models.yaml: models[openai/gpt-5-mini].pricing.schedule"
    assert f"{where}[0].until: before effective_from (2026-12-10)" in problems
    assert (
        f"{where}[1]: give effective_from, until or both (the base block is the price for all time)"
    ) in problems


def test_windows_that_leave_hours_uncovered_need_a_default(tmp_path: Path) -> None:
    peak = {"label": "peak", "hours": ["09:00-12:00"], "days": ["mon"], "input": 2.0, "output": 4.0}
    schedule = [_period(effective_from="2026-12-01", windows=[peak])]
    assert (
        "models.yaml: models[openai/gpt-5-mini].pricing.schedule[0].windows: leave hours "
        "uncovered (e.g. mon 00:00): cover the week, or give the period its own input and "
        "output as the default"
    ) in _problems(tmp_path, schedule)


def test_windows_that_cover_the_week_need_no_default(tmp_path: Path) -> None:
    day = {"label": "day", "hours": ["08:00-20:00"], "input": 2.0, "output": 4.0}
    night = {"label": "night", "hours": ["20:00-08:00"], "input": 1.0, "output": 2.0}
    schedule = [_period(effective_from="2026-12-01", windows=[day, night])]
    raw = _with_schedule(read_raw(MINI), "openai/gpt-5-mini", schedule)
    model = load_directory(write_raw(tmp_path, raw), now=TODAY).models["openai/gpt-5-mini"]
    # 02:00 on a Tuesday is the Monday night window, which runs past midnight.
    assert model.pricing.in_force(at("2026-12-08T02:00:00+00:00")).label == "from-2026-12-01/night"


def test_overlapping_windows_are_refused(tmp_path: Path) -> None:
    peak = {"label": "peak", "hours": ["09:00-12:00"], "input": 2.0, "output": 4.0}
    lunch = {
        "label": "lunch",
        "hours": ["11:30-13:00"],
        "days": ["wed"],
        "input": 3.0,
        "output": 5.0,
    }
    schedule = [_period(effective_from="2026-12-01", windows=[peak, lunch], input=1.0, output=2.0)]
    assert (
        "models.yaml: models[openai/gpt-5-mini].pricing.schedule[0].windows[1]: "
        "overlaps windows[0] at wed 11:30"
    ) in _problems(tmp_path, schedule)


def test_bad_hours_and_days_name_their_field(tmp_path: Path) -> None:
    window = {
        "label": "peak",
        "hours": ["9:00-12:00"],
        "days": ["monday"],
        "input": 2.0,
        "output": 4.0,
    }
    schedule = [_period(effective_from="2026-12-01", windows=[window], input=1.0, output=2.0)]
    problems = _problems(tmp_path, schedule)
    where = "models.yaml: models[openai/gpt-5-mini].pricing.schedule[0].windows[0]"
    assert any(p.startswith(f"{where}.hours[0]: String should match pattern") for p in problems)
    assert any(p.startswith(f"{where}.days[0]: unknown value 'monday'") for p in problems)


def test_a_local_model_has_no_price_schedule(tmp_path: Path) -> None:
    schedule = [_period(effective_from="2026-12-01", input=0.0, output=0.0)]
    assert (
        "models.yaml: models[local/qwen3-30b-a3b].pricing.schedule: "
        "a local model's tokens cost 0: it has no price schedule"
    ) in _problems(tmp_path, schedule, model="local/qwen3-30b-a3b")


def test_a_plain_pricing_block_stays_valid(tmp_path: Path) -> None:
    raw = read_raw(MINI)
    assert all("schedule" not in m["pricing"] for m in raw["models"])
    directory = load_directory(write_raw(tmp_path, raw), now=TODAY)
    assert all(m.pricing.schedule == [] for m in directory.models.values())
