"""HealthClient against a fake actor: a real ProviderHealth object behind an async callable that
can be made to fail, and a fake clock shared by everyone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from deployments.errors import ProviderServerError
from deployments.health import HealthClient, HealthSnapshot, Outcome, ProviderHealth, State


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeActor:
    """A ProviderHealth reached through an async call, as a Ray handle would be."""

    def __init__(
        self, clock: Callable[[], float], settings: dict[str, tuple[int, float]] | None = None
    ) -> None:
        self.health = ProviderHealth(settings or {"openai": (3, 30.0)}, clock=clock)
        self.down = False
        self.lose_replies = False  # the call goes through but its answer never arrives
        self.calls = 0
        self.configured: list[dict[str, tuple[int, float]]] = []

    async def sync(
        self, replica: str, outcomes: list[Outcome], probes: list[str]
    ) -> HealthSnapshot:
        self.calls += 1
        if self.down:
            raise ConnectionError("actor died")
        snapshot = self.health.sync(replica, list(outcomes), list(probes))
        if self.lose_replies:
            raise TimeoutError("reply lost")
        return snapshot

    async def configure(self, settings: dict[str, tuple[int, float]]) -> None:
        self.configured.append(settings)
        self.health.configure(settings)


def client(name: str, actor: FakeActor, clock: FakeClock, **kwargs: object) -> HealthClient:
    return HealthClient(name, actor.sync, clock=clock, configure=actor.configure, **kwargs)  # type: ignore[arg-type]


def fail(replica: HealthClient, clock: FakeClock, times: int, provider: str = "openai") -> None:
    for _ in range(times):
        clock.advance(0.01)
        replica.record(provider, False, ProviderServerError("500", provider=provider))


async def test_another_replicas_failures_open_the_breaker_here() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a, b = client("a", actor, clock), client("b", actor, clock)
    await b.sync_once()
    fail(a, clock, 3)
    assert not a.is_available("openai")  # its own outcomes count at once
    assert b.is_available("openai")  # b has not heard yet
    await a.sync_once()
    await b.sync_once()
    assert not b.is_available("openai")
    assert b.states()["openai"].state is State.OPEN
    assert b.states()["openai"].consecutive_failures == 3


async def test_the_request_path_never_calls_the_actor() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock)
    fail(a, clock, 5)
    a.record("openai", True)
    a.is_available("openai")
    a.try_acquire_probe("openai")
    a.states()
    assert actor.calls == 0


async def test_keeps_routing_on_its_own_view_while_the_actor_is_down() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock)
    actor.down = True
    assert await a.sync_once() is False  # swallowed, not raised
    fail(a, clock, 3)
    assert await a.sync_once() is False
    assert not a.is_available("openai")
    assert a.states()["openai"].view == "local"
    # Back up: the outcomes kept during the outage reach the cluster.
    actor.down = False
    assert await a.sync_once() is True
    assert actor.health.snapshot().state("openai") is State.OPEN
    assert a.states()["openai"].view == "cluster"


async def test_a_resend_after_a_lost_reply_does_not_double_count() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock)
    fail(a, clock, 2)
    actor.lose_replies = True
    assert await a.sync_once() is False
    actor.lose_replies = False
    assert await a.sync_once() is True
    assert actor.health.snapshot().providers["openai"].consecutive_failures == 2
    assert a.is_available("openai")


async def test_exactly_one_replica_gets_the_probe() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    replicas = [client(f"r{i}", actor, clock) for i in range(3)]
    fail(replicas[0], clock, 3)
    await replicas[0].sync_once()
    clock.advance(30)
    for replica in replicas:
        await replica.sync_once()
    # Half-open now, but no grant yet: everyone asks, nobody may probe this instant.
    assert [r.try_acquire_probe("openai") for r in replicas] == [False, False, False]
    for replica in replicas:
        await replica.sync_once()
    granted = [r.try_acquire_probe("openai") for r in replicas]
    assert granted.count(True) == 1
    assert [r.try_acquire_probe("openai") for r in replicas] == [False, False, False]
    assert all(not r.is_available("openai") for r in replicas)
    # The probe succeeds; everyone closes after the next round.
    prober = replicas[granted.index(True)]
    clock.advance(0.5)
    prober.record("openai", True)
    assert prober.is_available("openai")
    for replica in replicas:
        await replica.sync_once()
    assert all(r.is_available("openai") for r in replicas)


async def test_a_replica_that_lost_the_actor_probes_on_its_own() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock, stale_after_s=2.0)
    fail(a, clock, 3)
    await a.sync_once()
    actor.down = True
    clock.advance(30)
    await a.sync_once()
    assert a.try_acquire_probe("openai")  # stale snapshot: no grant can come, probe locally
    assert not a.try_acquire_probe("openai")
    a.record("openai", False, "ProviderTimeout")
    assert a.states()["openai"].state is State.OPEN


async def test_outcomes_recorded_during_a_round_survive_its_snapshot() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock)
    gate = asyncio.Event()

    async def slow_sync(replica: str, outcomes: list[Outcome], probes: list[str]) -> HealthSnapshot:
        await gate.wait()
        return await actor.sync(replica, outcomes, probes)

    a._sync = slow_sync
    round_ = asyncio.create_task(a.sync_once())
    await asyncio.sleep(0)
    fail(a, clock, 3)  # recorded while the round is in flight
    gate.set()
    assert await round_
    assert not a.is_available("openai")  # the snapshot (closed) did not wash them out
    assert await a.sync_once()
    assert actor.health.snapshot().state("openai") is State.OPEN


async def test_settings_reach_the_actor_and_the_local_breakers() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock, settings={"openai": (2, 10.0), "google": (5, 60.0)})
    fail(a, clock, 2)
    assert not a.is_available("openai")  # threshold 2 locally before any round
    await a.sync_once()
    assert actor.configured
    views = actor.health.snapshot().providers
    assert (views["google"].failure_threshold, views["google"].cooldown_s) == (5, 60.0)
    calls = len(actor.configured)
    await a.sync_once()
    assert len(actor.configured) == calls  # in agreement: nothing more to push
    assert set(a.states()) == {"google", "openai"}


async def test_states_report_the_cooldown() -> None:
    clock = FakeClock()
    actor = FakeActor(clock)
    a = client("a", actor, clock)
    fail(a, clock, 3)
    clock.advance(10)
    status = a.states()["openai"]
    assert status.state is State.OPEN
    assert status.cooldown_remaining_s == pytest.approx(20.0)
    assert status.opened_at == pytest.approx(clock.now - 10)


async def test_run_syncs_in_the_background_until_closed() -> None:
    # The real clock here: `run` sleeps between rounds.
    actor = FakeActor(time.time)
    a = HealthClient("a", actor.sync)
    b = HealthClient("b", actor.sync)
    a.start(interval_s=0.01)
    b.start(interval_s=0.01)
    for _ in range(3):
        a.record("openai", False, "ProviderServerError")
        await asyncio.sleep(0.001)
    deadline = asyncio.get_running_loop().time() + 5
    while b.is_available("openai") and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert not b.is_available("openai")
    await a.aclose()
    await b.aclose()
