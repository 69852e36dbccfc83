"""Free-tier and budget leases: the Allowances book and its replica clients, without Ray.

Two `LeaseClient`s sharing one in-process book stand for two Ingress replicas and the actor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deployments.ledger import SQLiteLedgerStore, UsageRecord
from serve_app.allowances.actor import Allowances
from serve_app.allowances.messages import AllowanceSpec, LeaseGrant, LeaseReport
from serve_app.allowances.replica import LeaseClient
from serve_app.allowances.store import SQLiteAllowanceStore
from serve_app.allowances.windows import window_at

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()
FREE = AllowanceSpec("free_requests:g/free", "free_requests", "utc-midnight", 3, model="g/free")
BUDGET = AllowanceSpec("budget:acme:day", "budget", "day", 1.0, tenant="acme")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Cluster:
    """One Allowances book and the replicas that talk to it; `lose_replies` drops answers."""

    def __init__(self, *specs: AllowanceSpec, store_path: Path | None = None) -> None:
        self.clock = Clock()
        self.store_path = store_path
        self.allowances = self._allowances()
        self.lose_replies = False
        self.down = False
        self.specs = specs

    def _allowances(self) -> Allowances:
        store = SQLiteAllowanceStore(self.store_path) if self.store_path else None
        return Allowances(store=store, clock=self.clock)

    def restart_actor(self) -> None:
        self.allowances = self._allowances()

    def replica(self, name: str) -> LeaseClient:
        async def sync(replica: str, reports: list[LeaseReport]) -> list[LeaseGrant]:
            if self.down:
                raise ConnectionError("actor down")
            grants = self.allowances.sync(replica, reports)
            if self.lose_replies:
                raise TimeoutError("reply lost")
            return grants

        client = LeaseClient(name, sync, clock=self.clock)
        client.configure(self.specs)
        return client


async def rounds(*clients: LeaseClient, times: int = 2) -> None:
    for _ in range(times):
        for client in clients:
            await client.sync_once()


def take_all(client: LeaseClient, key: str, amount: float = 1) -> int:
    taken = 0
    while client.reserve(key, amount) is not None:
        taken += 1
    return taken


async def test_one_replica_spends_exactly_the_free_tier() -> None:
    cluster = Cluster(FREE)
    a = cluster.replica("a")
    await rounds(a)
    reservations = [a.reserve(FREE.key, 1) for _ in range(4)]
    assert [t is not None for t in reservations] == [True, True, True, False]
    for reservation in reservations[:3]:
        assert reservation is not None
        a.settle(reservation, 1)
    await rounds(a)
    [status] = cluster.allowances.status()
    assert (status.used, status.remaining) == (3, 0)


async def test_leases_never_grant_more_than_the_limit_across_replicas() -> None:
    cluster = Cluster(FREE)
    replicas = [cluster.replica(name) for name in "abc"]
    for _ in range(5):
        await rounds(*replicas)
        cluster.clock.now += 0.1
    # However the rounds interleave, the replicas can reserve at most the limit together.
    assert sum(take_all(r, FREE.key) for r in replicas) <= 3


async def test_the_last_unit_follows_the_calls() -> None:
    cluster = Cluster(FREE)
    a, b = cluster.replica("a"), cluster.replica("b")
    await rounds(a, b, times=3)
    spent = 0
    # Every call lands on b. Whenever b finds its lease empty it is starved, and within a few
    # rounds a's share moves over: all three free calls are eventually made on b.
    for _ in range(20):
        reservation = b.reserve(FREE.key, 1)
        if reservation is not None:
            b.settle(reservation, 1)
            spent += 1
        await rounds(a, b)
        cluster.clock.now += 0.05
    assert spent == 3
    [status] = cluster.allowances.status()
    assert status.used == 3 and status.remaining == 0


async def test_budget_reserve_settle_and_release() -> None:
    cluster = Cluster(BUDGET)
    a = cluster.replica("a")
    await rounds(a)
    first = a.reserve(BUDGET.key, 0.4)
    second = a.reserve(BUDGET.key, 0.4)
    assert first is not None and second is not None
    assert a.reserve(BUDGET.key, 0.4) is None  # 0.2 left unreserved
    a.settle(first, 0.1)  # it cost less than estimated: 0.3 goes back to the lease
    a.release(second)  # failed: nothing spent
    third = a.reserve(BUDGET.key, 0.9)
    assert third is not None
    a.settle(third, 0.95)  # cost more than estimated: counted in full
    await rounds(a)
    [status] = cluster.allowances.status()
    assert status.used == pytest.approx(1.05)
    assert status.remaining == 0
    assert a.reserve(BUDGET.key, 0.001) is None


async def test_concurrent_reservations_on_two_replicas_stay_within_the_budget() -> None:
    cluster = Cluster(BUDGET)
    a, b = cluster.replica("a"), cluster.replica("b")
    await rounds(a, b, times=3)
    estimate = 0.1
    granted = [r.reserve(BUDGET.key, estimate) for r in (a, b) * 25]
    assert sum(t is not None for t in granted) * estimate <= 1.0 + 1e-9


async def test_a_lost_reply_grants_nothing_twice() -> None:
    cluster = Cluster(FREE)
    a = cluster.replica("a")
    cluster.lose_replies = True
    await rounds(a, times=3)
    assert a.reserve(FREE.key, 1) is None  # never heard back: no lease
    cluster.lose_replies = False
    await rounds(a)
    assert take_all(a, FREE.key) == 3


async def test_a_restarted_actor_keeps_its_grants(tmp_path: Path) -> None:
    cluster = Cluster(FREE, store_path=tmp_path / "ledger.sqlite")
    a, b = cluster.replica("a"), cluster.replica("b")
    await rounds(a)
    held = take_all(a, FREE.key)
    assert held == 3
    cluster.restart_actor()
    await rounds(b, times=3)
    assert take_all(b, FREE.key) == 0  # a's lease survived the restart


async def test_a_silent_replica_stops_spending_before_its_lease_is_reclaimed() -> None:
    cluster = Cluster(FREE)
    a, b = cluster.replica("a"), cluster.replica("b")
    await rounds(a)
    assert take_all(a, FREE.key) == 3
    a2 = cluster.replica("a2")
    await rounds(a2)
    cluster.down = True
    cluster.clock.now += 30  # past the replica's lease TTL: a may not spend any more
    assert a.reserve(FREE.key, 1) is None
    cluster.down = False
    cluster.clock.now += 40  # past the actor's reclaim time: a is presumed gone
    await rounds(b)
    assert take_all(b, FREE.key) == 3


async def test_quota_exhausted_stops_this_replica_at_once_and_the_others_next_round() -> None:
    cluster = Cluster(FREE)
    a, b = cluster.replica("a"), cluster.replica("b")
    await rounds(a, b, times=3)
    a.mark_exhausted(FREE.key, until=T0 + 600)
    assert a.reserve(FREE.key, 1) is None
    before = b.reserve(FREE.key, 1)
    assert before is not None  # b has not heard yet
    b.release(before)
    await rounds(a, b)
    assert b.reserve(FREE.key, 1) is None
    [status] = cluster.allowances.status()
    assert status.remaining == 0 and status.exhausted_until == T0 + 600
    cluster.clock.now = T0 + 601
    await rounds(a, b)
    assert take_all(a, FREE.key) + take_all(b, FREE.key) == 3


async def test_a_new_day_is_a_new_allowance() -> None:
    cluster = Cluster(FREE)
    a = cluster.replica("a")
    await rounds(a)
    for _ in range(3):
        reservation = a.reserve(FREE.key, 1)
        assert reservation is not None
        a.settle(reservation, 1)
    cluster.clock.now = window_at("utc-midnight", T0).end + 1
    await rounds(a)
    assert take_all(a, FREE.key) == 3


async def test_rolling_24h_counts_the_previous_hours() -> None:
    spec = AllowanceSpec("free_requests:g/roll", "free_requests", "rolling-24h", 3, model="g/roll")
    cluster = Cluster(spec, store_path=Path(":memory:"))  # bucket history lives in the store
    a = cluster.replica("a")
    await rounds(a)
    reservation = a.reserve(spec.key, 1)
    assert reservation is not None
    a.settle(reservation, 1)
    await rounds(a)
    cluster.clock.now += 3 * 3600  # three hours on: the call still counts
    await rounds(a)
    assert take_all(a, spec.key) == 2
    cluster.clock.now += 22 * 3600  # 25 hours on: it no longer does
    await rounds(a)
    assert take_all(a, spec.key) == 3


async def test_a_budget_configured_mid_day_starts_from_the_days_spend(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = SQLiteLedgerStore(path)
    ledger.write_batch(
        [
            UsageRecord(
                call_id=f"r{i}",
                attempt=1,
                ts=datetime.fromtimestamp(T0 - 3600, UTC),
                tenant="acme",
                agent="bot",
                model="m/x",
                provider="m",
                cost_usd=0.3,
                price_version="v",
                latency_ms=1,
                outcome="ok",
            )
            for i in range(2)
        ]
    )
    cluster = Cluster(BUDGET, store_path=path)
    a = cluster.replica("a")
    await rounds(a)
    standing = a.standing(BUDGET.key)
    assert standing is not None and standing.used == pytest.approx(0.6)
    assert a.reserve(BUDGET.key, 0.5) is None
    assert a.reserve(BUDGET.key, 0.4) is not None


def test_remaining_status_reads_as_a_user_expects() -> None:
    cluster = Cluster(FREE)
    report = LeaseReport(FREE, "2026-03-02", T0 - 43_200, T0 + 43_200, consumed=1, returned=0)
    cluster.allowances.sync("a", [report])
    [status] = cluster.allowances.status()
    row = status.as_dict()
    assert (row["limit"], row["used"], row["remaining"], row["model"]) == (3, 1, 2, "g/free")


def test_reset_windows_follow_the_vendors_rules() -> None:
    # Google's free tier resets at midnight Pacific; 2026-03-08 is a 23-hour day there (DST).
    dst = datetime(2026, 3, 8, 12, tzinfo=UTC).timestamp()
    pacific = window_at("pacific-midnight", dst)
    assert pacific.key == "2026-03-08@pacific"
    assert pacific.end - pacific.start == 23 * 3600
    assert datetime.fromtimestamp(pacific.start, UTC).hour == 8  # midnight PST is 08:00 UTC
    assert window_at("utc-midnight", T0).key == "2026-03-02"
    assert window_at("rolling-24h", T0).key == "2026-03-02T12"
    december = window_at("month", datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp())
    assert december.key == "2026-12"
    assert datetime.fromtimestamp(december.end, UTC) == datetime(2027, 1, 1, tzinfo=UTC)


class CountingStore(SQLiteAllowanceStore):
    def __init__(self) -> None:
        super().__init__(":memory:")
        self.saves = 0

    def save(self, allowances: Any) -> None:
        self.saves += 1
        super().save(allowances)


async def test_quiet_rounds_are_not_written_each_time() -> None:
    store = CountingStore()
    clock = Clock()
    allowances = Allowances(store=store, clock=clock)

    async def sync(replica: str, reports: list[LeaseReport]) -> list[LeaseGrant]:
        return allowances.sync(replica, reports)

    a = LeaseClient("a", sync, clock=clock)
    a.configure([FREE])
    for _ in range(50):  # five seconds of rounds with nothing spent: the first one writes
        await a.sync_once()
        clock.now += 0.1
    assert store.saves == 1
    reservation = a.reserve(FREE.key, 1)
    assert reservation is not None
    a.settle(reservation, 1)
    await a.sync_once()
    assert store.saves == 2
