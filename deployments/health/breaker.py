"""One provider's circuit breaker (design §5): a pure state machine with an injected clock.

    CLOSED ──N consecutive failures──► OPEN ──cooldown──► HALF_OPEN ──probe ok──► CLOSED
                                        ▲                     │
                                        └──── probe failed ───┘

HALF_OPEN is not stored: it is OPEN whose cooldown has passed, so a breaker needs no timer.
Exactly one probe goes through a half-open breaker; the slot is leased to a holder and falls free
again when the holder reports nothing within `probe_timeout_s` (a probe that crashed silently must
not keep the provider shut forever).

Outcomes carry the time they happened, because the cluster-wide breaker hears them late and out
of order. The rule: an outcome older than the breaker's last word on the matter does not count —
a failure older than the last success, or anything that happened while the breaker was open.
The clock is wall time by default, since opened-at and outcome times travel between processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from deployments.errors import CallerError, ContextLengthExceeded

Clock = Callable[[], float]


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSettings(NamedTuple):
    """What providers.yaml's `breaker:` block says; a plain tuple so it crosses Ray cheaply."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0


DEFAULT_SETTINGS = BreakerSettings()


class _BreakerBlock(Protocol):
    @property
    def failure_threshold(self) -> int: ...
    @property
    def cooldown_s(self) -> float: ...


class _ProviderEntry(Protocol):
    """`directory.schema.Provider`, structurally."""

    @property
    def id(self) -> str: ...
    @property
    def breaker(self) -> _BreakerBlock: ...


def settings_for(providers: Iterable[_ProviderEntry]) -> dict[str, BreakerSettings]:
    """Breaker settings for every provider of a directory (providers.yaml's `breaker:` blocks)."""
    return {
        p.id: BreakerSettings(p.breaker.failure_threshold, p.breaker.cooldown_s) for p in providers
    }


# Errors that say nothing about the provider's health: the caller's bad request, or a prompt too
# long for this model. They neither count as a failure nor reset the count.
NEUTRAL_ERRORS = frozenset({CallerError.__name__, ContextLengthExceeded.__name__})


def error_kind(error: BaseException | str | None) -> str | None:
    """The kind name of an error: an exception's class name (neutral subclasses keep their
    ancestor's name, so a subclass of CallerError is still neutral), or the string given."""
    if error is None or isinstance(error, str):
        return error
    for neutral in (CallerError, ContextLengthExceeded):
        if isinstance(error, neutral):
            return neutral.__name__
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker's whole state at one moment: shipped in snapshots, and enough to rebuild it."""

    state: State  # as of `taken_at`
    taken_at: float
    failure_threshold: int
    cooldown_s: float
    failure_times: tuple[float, ...]  # the current run of consecutive failures
    last_success_at: float | None
    opened_at: float | None  # set while open or half-open
    probe_holder: str | None  # who holds the half-open probe; None when free or expired
    probe_since: float | None
    probe_timeout_s: float

    @property
    def consecutive_failures(self) -> int:
        return len(self.failure_times)

    def cooldown_remaining_s(self, now: float) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - now)


class Breaker:
    def __init__(
        self,
        settings: BreakerSettings = DEFAULT_SETTINGS,
        *,
        clock: Clock = time.time,
        probe_timeout_s: float | None = None,
    ) -> None:
        self._clock = clock
        self._probe_timeout_override = probe_timeout_s
        self._settings = settings
        self._failures: tuple[float, ...] = ()
        self._last_success: float | None = None
        self._opened_at: float | None = None
        self._probe_holder: str | None = None
        self._probe_since: float | None = None

    # --- reading --------------------------------------------------------------------------------

    @property
    def settings(self) -> BreakerSettings:
        return self._settings

    @property
    def probe_timeout_s(self) -> float:
        # A probe is an ordinary call; the cooldown is the natural bound for how long it may take
        # before the slot is handed to someone else.
        if self._probe_timeout_override is not None:
            return self._probe_timeout_override
        return self._settings.cooldown_s

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return State.CLOSED
        if self._clock() < self._opened_at + self._settings.cooldown_s:
            return State.OPEN
        return State.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        return len(self._failures)

    @property
    def opened_at(self) -> float | None:
        return self._opened_at

    def probe_holder(self) -> str | None:
        """The holder of an unexpired probe lease, if any."""
        if self._probe_holder is None or self._probe_since is None:
            return None
        if self._clock() - self._probe_since >= self.probe_timeout_s:
            return None
        return self._probe_holder

    def view(self) -> BreakerView:
        holder = self.probe_holder()
        return BreakerView(
            state=self.state,
            taken_at=self._clock(),
            failure_threshold=self._settings.failure_threshold,
            cooldown_s=self._settings.cooldown_s,
            failure_times=self._failures,
            last_success_at=self._last_success,
            opened_at=self._opened_at,
            probe_holder=holder,
            probe_since=self._probe_since if holder is not None else None,
            probe_timeout_s=self.probe_timeout_s,
        )

    # --- changing -------------------------------------------------------------------------------

    def try_acquire_probe(self, holder: str = "local") -> bool:
        """Take the one probe slot of a half-open breaker. True at most once per lease."""
        if self.state is not State.HALF_OPEN or self.probe_holder() is not None:
            return False
        self._probe_holder = holder
        self._probe_since = self._clock()
        return True

    def release_probe(self, holder: str = "local") -> None:
        """`holder` gives its probe back unused: the slot is free for the next request."""
        if self._probe_holder == holder:
            self._probe_holder = self._probe_since = None

    def record(
        self,
        ok: bool,
        error: BaseException | str | None = None,
        *,
        at: float | None = None,
        source: str | None = None,
    ) -> None:
        """Count one outcome that happened at `at` (default: now), reported by `source`."""
        now = self._clock()
        when = now if at is None else at
        neutral = not ok and error_kind(error) in NEUTRAL_ERRORS
        if self._opened_at is not None:
            self._record_while_open(self._opened_at, ok, neutral, when, now, source)
        elif ok:
            self._last_success = (
                when if self._last_success is None else max(self._last_success, when)
            )
            # A success reported late still ends the run of failures that came before it.
            self._failures = tuple(t for t in self._failures if t > when)
        elif not neutral:
            self._record_failure_while_closed(when, now)

    def _record_failure_while_closed(self, when: float, now: float) -> None:
        if self._last_success is not None and when < self._last_success:
            return  # older than a success: it was not part of the current run
        if when in self._failures:
            return  # the same outcome sent twice (a resend after a lost reply)
        threshold = self._settings.failure_threshold
        self._failures = tuple(sorted((*self._failures, when)))[-threshold:]
        if len(self._failures) >= threshold:
            self._open(now)

    def _record_while_open(
        self, opened_at: float, ok: bool, neutral: bool, when: float, now: float, source: str | None
    ) -> None:
        half_open_at = opened_at + self._settings.cooldown_s
        if now < half_open_at or when < half_open_at:
            return  # calls that were already under way when it opened say nothing new
        if neutral:
            # The probe got an answer that proves nothing either way: let another probe go.
            if source is None or source == self._probe_holder:
                self._probe_holder = self._probe_since = None
            return
        if ok:
            self._failures = ()
            self._last_success = when
            self._opened_at = None
            self._probe_holder = self._probe_since = None
        else:
            self._failures = (*self._failures, when)[-self._settings.failure_threshold :]
            self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._probe_holder = self._probe_since = None

    def reconfigure(self, settings: BreakerSettings) -> None:
        """New threshold/cooldown (a directory reload); the current state is kept."""
        self._settings = settings
        if self._opened_at is None and len(self._failures) >= settings.failure_threshold:
            self._open(self._clock())

    def restore(self, view: BreakerView) -> None:
        """Become the breaker `view` describes (a replica adopting the cluster's truth)."""
        self._settings = BreakerSettings(view.failure_threshold, view.cooldown_s)
        self._probe_timeout_override = view.probe_timeout_s
        self._failures = view.failure_times
        self._last_success = view.last_success_at
        self._opened_at = view.opened_at
        self._probe_holder = view.probe_holder
        self._probe_since = view.probe_since

    def reset(self) -> None:
        """Closed with no history, keeping the settings."""
        self._failures = ()
        self._last_success = self._opened_at = None
        self._probe_holder = self._probe_since = None
