"""ProviderHealth as a plain object: cluster-wide counting and the one probe lease."""

from __future__ import annotations

import pickle

from deployments.health import Outcome, ProviderHealth, State


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def failure(provider: str, at: float) -> Outcome:
    return Outcome(provider, False, "ProviderServerError", at)


def test_failures_from_different_replicas_are_consecutive_in_time_order() -> None:
    clock = FakeClock()
    health = ProviderHealth(clock=clock)
    t = clock.now
    health.report("r1", [failure("openai", t + 1), failure("openai", t + 3)])
    health.report("r2", [Outcome("openai", True, None, t + 2)])
    assert health.snapshot().providers["openai"].consecutive_failures == 1
    health.report("r2", [failure("openai", t + 4)])
    assert health.snapshot().state("openai") is State.CLOSED
    clock.advance(5)
    health.report("r2", [failure("openai", t + 5)])
    assert health.snapshot().state("openai") is State.OPEN


def test_a_batch_is_processed_in_timestamp_order() -> None:
    clock = FakeClock()
    health = ProviderHealth(clock=clock)
    t = clock.now
    # On the wire the success comes first, but it happened after three failures in a row.
    health.report(
        "r1",
        [
            Outcome("openai", True, None, t + 4),
            failure("openai", t + 1),
            failure("openai", t + 2),
            failure("openai", t + 3),
        ],
    )
    assert health.snapshot().state("openai") is State.OPEN


def test_configure_sets_threshold_and_cooldown_per_provider() -> None:
    clock = FakeClock()
    health = ProviderHealth({"google": (2, 5.0)}, clock=clock)
    health.report("r1", [failure("google", clock.now), failure("google", clock.now + 0.1)])
    view = health.snapshot().providers["google"]
    assert view.state is State.OPEN
    assert (view.failure_threshold, view.cooldown_s) == (2, 5.0)
    health.configure({"openai": (4, 60.0)})
    assert health.snapshot().providers["openai"].failure_threshold == 4
    assert health.snapshot().providers["openai"].state is State.CLOSED


def test_exactly_one_probe_is_granted_cluster_wide() -> None:
    clock = FakeClock()
    health = ProviderHealth({"openai": (3, 30.0)}, clock=clock)
    health.report("r1", [failure("openai", clock.now + i * 0.1) for i in range(3)])
    clock.advance(10)
    assert health.sync("r1", [], ["openai"]).providers["openai"].probe_holder is None  # still open
    clock.advance(20)
    first = health.sync("r1", [], ["openai"])
    second = health.sync("r2", [], ["openai"])
    assert first.providers["openai"].probe_holder == "r1"
    assert second.providers["openai"].probe_holder == "r1"
    assert second.providers["openai"].state is State.HALF_OPEN
    clock.advance(1)
    closed = health.sync("r1", [Outcome("openai", True, None, clock.now)], [])
    assert closed.providers["openai"].state is State.CLOSED
    assert closed.providers["openai"].probe_holder is None


def test_the_lease_is_revoked_when_its_holder_stays_silent() -> None:
    clock = FakeClock()
    health = ProviderHealth({"openai": (3, 30.0)}, clock=clock)
    health.report("r1", [failure("openai", clock.now + i * 0.1) for i in range(3)])
    clock.advance(30)
    assert health.sync("r1", [], ["openai"]).providers["openai"].probe_holder == "r1"
    clock.advance(29)
    assert health.sync("r2", [], ["openai"]).providers["openai"].probe_holder == "r1"
    clock.advance(1)
    assert health.sync("r2", [], ["openai"]).providers["openai"].probe_holder == "r2"


def test_a_failed_probe_reopens_for_everyone() -> None:
    clock = FakeClock()
    health = ProviderHealth({"openai": (3, 30.0)}, clock=clock)
    health.report("r1", [failure("openai", clock.now + i * 0.1) for i in range(3)])
    clock.advance(30)
    health.sync("r2", [], ["openai"])
    clock.advance(2)
    snapshot = health.sync("r2", [failure("openai", clock.now)], [])
    assert snapshot.providers["openai"].state is State.OPEN
    assert snapshot.providers["openai"].opened_at == clock.now


def test_snapshot_crosses_processes() -> None:
    health = ProviderHealth({"openai": (3, 30.0)})
    snapshot = health.snapshot()
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot
    assert health.ping() == "ok"
