"""Price schedules: which prices are in force at an instant, and which dated changes lie ahead.

A model's `pricing` block holds its base prices and an optional `schedule` of periods
(directory/FORMAT.md). A period covers a range of days in its own IANA timezone and is flat, or
priced by time-of-day windows (a vendor's peak and off-peak hours), with the period's own prices
as the default for hours its windows leave out. Outside every period the base prices apply.

    price_in_force(pricing, at)            what a call made at `at` is billed at, with a label
    upcoming_changes(model, now, within)   the dated changes ahead: periods starting or ending
    todays_blended(pricing, now)           the price a policy ranks by (see its docstring)
    schedule_problems(model)               what is wrong with a schedule, for directory/checks.py

Times are minutes of the week in the period's timezone (Monday 00:00 is 0), so a window that runs
past midnight, or past Sunday into Monday, is two plain intervals. DST needs no special case: an
instant is turned into the zone's wall-clock time, and windows are wall-clock times.

This module is imported by `directory.schema`, so it reads the schema's types for typing only.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

if TYPE_CHECKING:
    from directory.schema import (
        LongContextPricing,
        ModelProfile,
        PricePeriod,
        Pricing,
        WindowPricing,
    )

BASE_LABEL = "base"
_DAY = 24 * 60
_WEEK = 7 * _DAY
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


def usd(value: float) -> str:
    """A price for people: at least two decimals, more only where the price has them ($0.125)."""
    # Sub-dime prices keep four decimals ($0.0375), others three ($0.131 blended).
    whole, fraction = f"{value:.{4 if value < 0.1 else 3}f}".rstrip("0").split(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


@dataclass(frozen=True, slots=True)
class PriceInForce:
    """The prices one call is billed at (the shape of `deployments.ledger.cost.Prices`), and
    `label`, which names them in the ledger: "base", "from-2026-12-01", "v4-tod/peak"."""

    label: str
    input: float
    output: float
    cached_input: float | None
    cache_write: float | None
    cache_write_1h: float | None
    long_context: LongContextPricing | None
    gpu_hour_usd: float | None
    source: str

    def blended(self) -> float:
        """USD per million tokens at a 3:1 input:output mix, as `Pricing.blended`."""
        return (3 * self.input + self.output) / 4


@dataclass(frozen=True)
class PriceChange:
    """A dated change of a model's prices: from `at` on, `label`'s prices apply."""

    at: datetime  # UTC
    label: str
    words: str  # the new prices, e.g. "$4.00 in / $20.00 out per Mtok"
    source: str


# --- the price in force ------------------------------------------------------------------------


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _minute_of_week(local: datetime) -> int:
    return local.weekday() * _DAY + local.hour * 60 + local.minute


def _clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _ranges(window: WindowPricing) -> Iterator[tuple[int, int]]:
    """Each of the window's hours as (start, end) minutes of the day."""
    for span in window.hours:
        start, end = span.split("-")
        yield _clock(start), _clock(end)


def _segments(window: WindowPricing) -> list[tuple[int, int]]:
    """The window as half-open intervals of minutes of the week."""
    found: list[tuple[int, int]] = []
    for name in window.days:
        day = _DAY_NAMES.index(name) * _DAY
        for start, end in _ranges(window):
            if start < end:
                found.append((day + start, day + end))
            elif start > end:  # runs past midnight into the next day (Sunday into Monday)
                found.append((day + start, day + _DAY))
                if end:
                    following = (day + _DAY) % _WEEK
                    found.append((following, following + end))
    return found


def _covers(period: PricePeriod, day: date) -> bool:
    starts, until = period.effective_from, period.until
    return (starts is None or day >= starts) and (until is None or day <= until)


def _period_at(pricing: Pricing, at: datetime) -> tuple[PricePeriod, datetime] | None:
    """The period in force at `at`, with `at` in its timezone; None where the base applies."""
    for period in pricing.schedule:
        if _unknown_zone(period.timezone) is not None:
            continue  # only in a directory the loader refuses (its policies are ranked first)
        local = at.astimezone(_zone(period.timezone))
        if _covers(period, local.date()):
            return period, local
    return None


def _base(pricing: Pricing) -> PriceInForce:
    return PriceInForce(
        label=BASE_LABEL,
        input=pricing.input,
        output=pricing.output,
        cached_input=pricing.cached_input,
        cache_write=pricing.cache_write,
        cache_write_1h=pricing.cache_write_1h,
        long_context=pricing.long_context,
        gpu_hour_usd=pricing.gpu_hour_usd,
        source=pricing.source,
    )


def _priced(
    label: str, prices: PricePeriod | WindowPricing, pricing: Pricing, source: str
) -> PriceInForce:
    # A period used for its own prices has both (schedule_problems); the base stands in only in a
    # directory the loader refuses, whose policies are still ranked to report all its problems.
    return PriceInForce(
        label=label,
        input=pricing.input if prices.input is None else prices.input,
        output=pricing.output if prices.output is None else prices.output,
        cached_input=prices.cached_input,
        cache_write=prices.cache_write,
        cache_write_1h=prices.cache_write_1h,
        long_context=prices.long_context,
        gpu_hour_usd=pricing.gpu_hour_usd,
        source=source,
    )


def price_in_force(pricing: Pricing, at: datetime) -> PriceInForce:
    """The prices a call made at `at` is billed at: the period covering `at`'s day (in the
    period's timezone) and, where it has windows, the window holding `at`'s wall-clock time;
    the base prices outside every period."""
    if at.tzinfo is None:
        raise ValueError("a price in force needs a timezone-aware instant")
    found = _period_at(pricing, at)
    if found is None:
        return _base(pricing)
    period, local = found
    minute = _minute_of_week(local)
    for window in period.windows:
        if any(start <= minute < end for start, end in _segments(window)):
            label = f"{period.name()}/{window.label}"
            return _priced(label, window, pricing, period.source)
    label = f"{period.name()}/{period.default_label}" if period.windows else period.name()
    return _priced(label, period, pricing, period.source)


# --- what policies rank by ---------------------------------------------------------------------


def _week_blended(period: PricePeriod) -> float:
    """A time-of-day period's blended price averaged over the minutes of a week."""
    covered = 0
    total = 0.0
    for window in period.windows:
        minutes = sum(end - start for start, end in _segments(window))
        covered += minutes
        total += minutes * (3 * window.input + window.output) / 4
    if covered < _WEEK and period.input is not None and period.output is not None:
        total += (_WEEK - covered) * (3 * period.input + period.output) / 4
    return total / _WEEK


def todays_blended(pricing: Pricing, now: datetime) -> float:
    """Today's blended price, the `cheapest` policy's measure: the period in force now, and for
    a time-of-day period its windows weighted by the hours they hold in a week. Not the price of
    this very minute: a policy that flipped at 09:00 Beijing time would send the same shortcut
    to different models on replicas loaded an hour apart."""
    found = _period_at(pricing, now)
    if found is None:
        return pricing.blended()
    period, _ = found
    if not period.windows:
        return _priced(period.name(), period, pricing, period.source).blended()
    return _week_blended(period)


# --- what changes next -------------------------------------------------------------------------


def _bounds(period: PricePeriod) -> tuple[datetime | None, datetime | None]:
    """The instants a period starts and stops being in force (None: unbounded)."""
    zone = _zone(period.timezone)
    start = end = None
    if period.effective_from is not None:
        start = datetime.combine(period.effective_from, time(), tzinfo=zone)
    if period.until is not None:
        end = datetime.combine(period.until + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def _hours(window: WindowPricing) -> str:
    days = window.days
    if len(days) == 7:
        span = "daily"
    elif days == list(_DAY_NAMES[: len(days)]) or len(days) == 1:
        span = days[0] if len(days) == 1 else f"{days[0]}-{days[-1]}"
    else:
        span = ",".join(days)
    return f"{span} {', '.join(window.hours)}"


def period_words(period: PricePeriod) -> str:
    """A period's prices in words, e.g. "by time of day (Asia/Shanghai): peak $1.32/$3.96 …"."""
    if not period.windows:
        if period.input is None or period.output is None:
            return "no prices"
        return f"{usd(period.input)} in / {usd(period.output)} out per Mtok"
    parts = [
        f"{w.label} {usd(w.input)}/{usd(w.output)} {_hours(w)}"
        for w in sorted(period.windows, key=lambda w: -w.input)
    ]
    if period.input is not None and period.output is not None:
        parts.append(f"{period.default_label} {usd(period.input)}/{usd(period.output)} otherwise")
    return f"by time of day ({period.timezone}, in/out per Mtok): " + "; ".join(parts)


def upcoming_changes(
    model: ModelProfile, now: datetime, within: timedelta | None = None
) -> list[PriceChange]:
    """The dated price changes after `now` (up to `now + within`; None: all), soonest first.
    A period's own daily windows are not changes: they are how its prices work every day."""
    if now.tzinfo is None:
        raise ValueError("upcoming price changes need a timezone-aware instant")
    pricing = model.pricing
    horizon = None if within is None else now + within
    instants = {
        bound
        for period in pricing.schedule
        for bound in _bounds(period)
        if bound is not None and bound > now and (horizon is None or bound <= horizon)
    }
    changes: list[PriceChange] = []
    for at in sorted(instants):
        found = _period_at(pricing, at)
        if found is None:
            base = f"{usd(pricing.input)} in / {usd(pricing.output)} out per Mtok"
            changes.append(PriceChange(at.astimezone(UTC), BASE_LABEL, base, pricing.source))
        else:
            period = found[0]
            words = period_words(period)
            changes.append(PriceChange(at.astimezone(UTC), period.name(), words, period.source))
    return changes


# --- checks --------------------------------------------------------------------------------------


@functools.cache
def _unknown_zone(name: str) -> str | None:
    """What is wrong with a timezone name, or None for a zone zoneinfo knows."""
    try:
        _zone(name)
        return None
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown IANA timezone {name!r}{hint}"


def _at_minute(minute: int) -> str:
    day, rest = divmod(minute % _WEEK, _DAY)
    return f"{_DAY_NAMES[day]} {rest // 60:02d}:{rest % 60:02d}"


def _window_problems(period: PricePeriod, where: str) -> Iterator[tuple[str, str]]:
    seen: dict[str, int] = {}
    taken: list[tuple[int, int, int]] = []  # (start, end, window index)
    for j, window in enumerate(period.windows):
        field = f"{where}.windows[{j}]"
        if window.label in seen:
            yield f"{field}.label", f"{window.label!r} given twice (windows[{seen[window.label]}])"
        seen.setdefault(window.label, j)
        if window.label == period.default_label:
            yield f"{field}.label", f"{window.label!r} names the period's default (default_label)"
        for k, (start, end) in enumerate(_ranges(window)):
            if start == end:
                yield f"{field}.hours[{k}]", "starts where it ends: the range is empty"
        segments = _segments(window)
        clash = next(
            (
                (s, k, start)
                for start, end in segments
                for s, e, k in taken
                if s < end and start < e
            ),
            None,
        )
        if clash is not None:
            other_start, other, start = clash
            yield field, f"overlaps windows[{other}] at {_at_minute(max(start, other_start))}"
        taken += [(start, end, j) for start, end in segments]
    covered = sorted((s, e) for s, e, _ in taken)
    gap, reach = None, 0
    for start, end in covered:
        if start > reach:
            gap = reach
            break
        reach = max(reach, end)
    if gap is None and reach < _WEEK:
        gap = reach
    if gap is not None and (period.input is None or period.output is None):
        yield (
            f"{where}.windows",
            f"leave hours uncovered (e.g. {_at_minute(gap)}): cover the week, or give the "
            "period its own input and output as the default",
        )


def _period_problems(period: PricePeriod, where: str) -> Iterator[tuple[str, str]]:
    if (zone := _unknown_zone(period.timezone)) is not None:
        yield f"{where}.timezone", zone
    if period.effective_from is None and period.until is None:
        yield where, "give effective_from, until or both (the base block is the price for all time)"
    if period.effective_from and period.until and period.until < period.effective_from:
        yield f"{where}.until", f"before effective_from ({period.effective_from.isoformat()})"
    if (period.input is None) != (period.output is None):
        missing = "output" if period.output is None else "input"
        yield f"{where}.{missing}", "give both input and output, or neither"
    elif period.input is None and not period.windows:
        yield f"{where}.input", "a period without windows needs its own input and output"
    yield from _window_problems(period, where)


def _overlaps(schedule: Sequence[PricePeriod]) -> Iterator[tuple[str, str]]:
    """Periods whose ranges share an instant (each in its own timezone)."""
    if any(_unknown_zone(p.timezone) for p in schedule):
        return  # reported per period; the ranges cannot be placed
    earliest = datetime.min.replace(tzinfo=UTC)
    latest = datetime.max.replace(tzinfo=UTC)
    spans = []
    for i, period in enumerate(schedule):
        start, end = _bounds(period)
        spans.append((start or earliest, end or latest, i))
    spans.sort()
    reach, holder = earliest, -1  # the latest end so far, and whose it is
    for start, end, i in spans:
        if holder >= 0 and start < reach:
            first, second = sorted((holder, i))
            yield (
                f"pricing.schedule[{second}]",
                f"its days overlap schedule[{first}]'s ({schedule[first].name()})",
            )
        if end > reach:
            reach, holder = end, i


def schedule_problems(model: ModelProfile) -> list[tuple[str, str]]:
    """(field, message) for every problem of the model's price schedule."""
    schedule = model.pricing.schedule
    if not schedule:
        return []
    if model.privacy == "local":
        return [("pricing.schedule", "a local model's tokens cost 0: it has no price schedule")]
    found: list[tuple[str, str]] = []
    names: dict[str, int] = {}
    for i, period in enumerate(schedule):
        where = f"pricing.schedule[{i}]"
        found += _period_problems(period, where)
        name = period.name()
        if name == BASE_LABEL or name in names:
            other = "the base block's" if name == BASE_LABEL else f"schedule[{names[name]}]'s"
            found.append((f"{where}.label", f"{name!r} is {other} label; labels must differ"))
        names.setdefault(name, i)
    found += _overlaps(schedule)
    return found
