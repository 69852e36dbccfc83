"""The periods allowances are counted in: free-tier reset rules and budget periods.

A window has a key (what allowances are stored under), a start and an end (unix seconds). Free tiers
reset the way their vendor says (`directory.schema.FreeTier.reset`):

- `utc-midnight`: the UTC day, key `2026-11-25`.
- `pacific-midnight`: the day in America/Los_Angeles (Google's rule), key `2026-11-25@pacific`;
  a daylight-saving day is 23 or 25 hours long, as the vendor's is.
- `rolling-24h`: counted in hourly buckets, key `2026-11-25T18`: what the last 24 hours allow is
  the limit less the 23 buckets before the current one. Usage leaves the window on the hour after
  it turns 24 hours old, so the rule is at most an hour stricter than a true rolling window.

Budgets run per UTC `day` (key as utc-midnight) and per UTC `month` (key `2026-11`).

A key's rate limits (rpm, tpm) count a *sliding* minute, not a window that resets: a unit used at
t is free again at t + 60 s (see `replica.Lease`). Their allowance has one endless window,
`sliding`, so a lease never rolls over (no refusals at each minute's turn, no double burst across
it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Reset = Literal["utc-midnight", "pacific-midnight", "rolling-24h", "day", "month", "sliding"]
PACIFIC = ZoneInfo("America/Los_Angeles")
ROLLING_BUCKETS = 24  # hourly buckets in a rolling-24h window, the current one included


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive

    def contains(self, now: float) -> bool:
        return self.start <= now < self.end


# The one window of every sliding rate limit: it never ends (year 9999), so it never rolls over.
SLIDING = Window(key="sliding", start=0.0, end=253_402_300_800.0)


def window_at(reset: Reset, now: float) -> Window:
    """The window of `reset` that holds the unix time `now`."""
    utc = datetime.fromtimestamp(now, UTC)
    if reset in ("utc-midnight", "day"):
        start = utc.replace(hour=0, minute=0, second=0, microsecond=0)
        return _window(start.strftime("%Y-%m-%d"), start, start + timedelta(days=1))
    if reset == "pacific-midnight":
        local = utc.astimezone(PACIFIC)
        day = local.date()
        start = datetime(day.year, day.month, day.day, tzinfo=PACIFIC)
        following = day + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=PACIFIC)
        return _window(f"{day.isoformat()}@pacific", start, end)
    if reset == "sliding":
        return SLIDING
    if reset == "rolling-24h":
        start = utc.replace(minute=0, second=0, microsecond=0)
        return _window(start.strftime("%Y-%m-%dT%H"), start, start + timedelta(hours=1))
    if reset == "month":
        start = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else (start.replace(month=start.month + 1))
        )
        return _window(start.strftime("%Y-%m"), start, end)
    raise ValueError(f"unknown reset rule {reset!r}")


def rolling_history_start(window: Window) -> float:
    """Where the buckets that still count against a rolling-24h `window` begin."""
    return window.start - (ROLLING_BUCKETS - 1) * 3600.0


def _window(key: str, start: datetime, end: datetime) -> Window:
    return Window(key=key, start=start.timestamp(), end=end.timestamp())
