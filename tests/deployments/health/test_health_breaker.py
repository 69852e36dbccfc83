"""The breaker state machine, driven by a fake clock (no sleeping, no timing assertions)."""

from __future__ import annotations

import pickle

import pytest

from deployments.errors import CallerError, ContextLengthExceeded, ProviderServerError
from deployments.health.breaker import Breaker, BreakerSettings, State, error_kind, settings_for


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(threshold: int = 3, cooldown_s: float = 30.0) -> tuple[Breaker, FakeClock]:
    clock = FakeClock()
    return Breaker(BreakerSettings(threshold, cooldown_s), clock=clock), clock


def fail(breaker: Breaker, clock: FakeClock, times: int = 1, kind: str = "ProviderServerError"):
    for _ in range(times):
        clock.advance(0.01)
        breaker.record(False, kind)


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker, clock = make()
    fail(breaker, clock, 2)
    assert breaker.state is State.CLOSED
    assert breaker.consecutive_failures == 2
    fail(breaker, clock)
    assert breaker.state is State.OPEN
    assert breaker.opened_at == clock.now


def test_a_success_resets_the_count() -> None:
    breaker, clock = make()
    fail(breaker, clock, 2)
    breaker.record(True)
    fail(breaker, clock, 2)
    assert breaker.state is State.CLOSED
    assert breaker.consecutive_failures == 2


def test_threshold_comes_from_settings() -> None:
    breaker, clock = make(threshold=5)
    fail(breaker, clock, 4)
    assert breaker.state is State.CLOSED
    fail(breaker, clock)
    assert breaker.state is State.OPEN


@pytest.mark.parametrize("neutral", ["CallerError", "ContextLengthExceeded"])
def test_neutral_errors_neither_count_nor_reset(neutral: str) -> None:
    breaker, clock = make()
    fail(breaker, clock, 2)
    fail(breaker, clock, 5, kind=neutral)
    assert breaker.consecutive_failures == 2
    fail(breaker, clock)
    assert breaker.state is State.OPEN


def test_error_kind_names_exceptions_and_keeps_neutral_subclasses_neutral() -> None:
    class BadSchema(CallerError):
        pass

    assert error_kind(ProviderServerError("boom", provider="p")) == "ProviderServerError"
    assert error_kind(BadSchema("bad", provider="p")) == "CallerError"
    assert error_kind(ContextLengthExceeded("long", provider="p")) == "ContextLengthExceeded"
    assert error_kind("RateLimited") == "RateLimited"
    assert error_kind(None) is None


def test_open_until_cooldown_then_exactly_one_probe() -> None:
    breaker, clock = make(cooldown_s=30)
    fail(breaker, clock, 3)
    clock.advance(29.9)
    assert breaker.state is State.OPEN
    assert not breaker.try_acquire_probe("r1")
    clock.advance(0.1)
    assert breaker.state is State.HALF_OPEN
    assert breaker.try_acquire_probe("r1")
    assert not breaker.try_acquire_probe("r1")  # once per lease, even for the holder
    assert not breaker.try_acquire_probe("r2")
    assert breaker.probe_holder() == "r1"


def test_probe_success_closes() -> None:
    breaker, clock = make(cooldown_s=30)
    fail(breaker, clock, 3)
    clock.advance(30)
    assert breaker.try_acquire_probe()
    clock.advance(1)
    breaker.record(True)
    assert breaker.state is State.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.opened_at is None


def test_probe_failure_reopens_with_a_new_cooldown() -> None:
    breaker, clock = make(cooldown_s=30)
    fail(breaker, clock, 3)
    clock.advance(30)
    assert breaker.try_acquire_probe()
    clock.advance(1)
    breaker.record(False, "ProviderTimeout")
    assert breaker.state is State.OPEN
    assert breaker.opened_at == clock.now
    clock.advance(29)
    assert breaker.state is State.OPEN
    clock.advance(1)
    assert breaker.state is State.HALF_OPEN
    assert breaker.try_acquire_probe()


def test_an_unanswered_probe_lease_lapses() -> None:
    clock = FakeClock()
    breaker = Breaker(BreakerSettings(3, 30), clock=clock, probe_timeout_s=10)
    fail(breaker, clock, 3)
    clock.advance(30)
    assert breaker.try_acquire_probe("r1")
    clock.advance(9.9)
    assert not breaker.try_acquire_probe("r2")
    clock.advance(0.1)
    assert breaker.try_acquire_probe("r2")
    assert breaker.probe_holder() == "r2"


def test_a_neutral_probe_answer_frees_the_slot_only_for_its_holder() -> None:
    breaker, clock = make()
    fail(breaker, clock, 3)
    clock.advance(30)
    assert breaker.try_acquire_probe("r1")
    clock.advance(1)
    breaker.record(False, "CallerError", source="r2")
    assert breaker.probe_holder() == "r1"
    breaker.record(False, "CallerError", source="r1")
    assert breaker.state is State.HALF_OPEN
    assert breaker.try_acquire_probe("r2")


def test_outcomes_of_calls_under_way_while_open_are_ignored() -> None:
    breaker, clock = make(cooldown_s=30)
    fail(breaker, clock, 3)
    opened = breaker.opened_at
    clock.advance(5)
    breaker.record(False, "ProviderTimeout")  # does not extend the cooldown
    breaker.record(True)  # nor close it
    assert breaker.state is State.OPEN
    assert breaker.opened_at == opened
    clock.advance(30)
    # Reported during half-open, but it happened while open: not a probe result.
    breaker.record(True, at=clock.now - 10)
    assert breaker.state is State.HALF_OPEN


def test_late_reports_count_in_time_order() -> None:
    breaker, clock = make()
    t0 = clock.now
    breaker.record(False, "ProviderServerError", at=t0 + 1)
    breaker.record(False, "ProviderServerError", at=t0 + 3)
    breaker.record(True, at=t0 + 2)  # arrives last, happened in between
    assert breaker.consecutive_failures == 1
    breaker.record(False, "ProviderServerError", at=t0 + 1.5)  # older than the success
    assert breaker.consecutive_failures == 1


def test_the_same_failure_sent_twice_counts_once() -> None:
    breaker, clock = make()
    for _ in range(2):
        breaker.record(False, "ProviderServerError", at=clock.now - 1)
        breaker.record(False, "ProviderServerError", at=clock.now - 2)
    assert breaker.consecutive_failures == 2
    assert breaker.state is State.CLOSED


def test_view_restores_an_equal_breaker_and_pickles() -> None:
    breaker, clock = make()
    fail(breaker, clock, 3)
    clock.advance(30)
    breaker.try_acquire_probe("r1")
    view = pickle.loads(pickle.dumps(breaker.view()))
    copy = Breaker(clock=clock)
    copy.restore(view)
    assert copy.view() == breaker.view()
    assert copy.state is State.HALF_OPEN
    assert not copy.try_acquire_probe("r2")
    assert view.cooldown_remaining_s(clock.now) == 0


def test_reconfigure_keeps_state_and_applies_a_lower_threshold() -> None:
    breaker, clock = make(threshold=5)
    fail(breaker, clock, 3)
    breaker.reconfigure(BreakerSettings(3, 10))
    assert breaker.state is State.OPEN
    clock.advance(10)
    assert breaker.state is State.HALF_OPEN


def test_reset_closes_and_forgets() -> None:
    breaker, clock = make()
    fail(breaker, clock, 3)
    breaker.reset()
    assert breaker.state is State.CLOSED
    assert breaker.consecutive_failures == 0


def test_settings_for_reads_the_directorys_breaker_blocks() -> None:
    from types import SimpleNamespace as Entry

    providers = [
        Entry(id="anthropic", breaker=Entry(failure_threshold=3, cooldown_s=30.0)),
        Entry(id="groq", breaker=Entry(failure_threshold=5, cooldown_s=10.0)),
    ]
    assert settings_for(providers) == {
        "anthropic": BreakerSettings(3, 30.0),
        "groq": BreakerSettings(5, 10.0),
    }
