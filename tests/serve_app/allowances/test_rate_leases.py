"""A key's rate limits (rpm, tpm) as leases: two `LeaseClient`s (two Ingress replicas) on one
in-process book. The bound under test (book.py's docstring, README "Rate limits"): in no 60 s span
does the cluster admit more than the key's rpm, however the replicas' rounds interleave, whichever
replica the calls reach, and when a replica is cut off from the actor.
"""

from __future__ import annotations

import asyncio
import random

from serve_app.allowances.messages import AllowanceSpec
from serve_app.allowances.replica import RATE_IDLE_S, LeaseClient, Reservation
from tests.serve_app.allowances.test_leases import Cluster, rounds, take_all

# As `calls.rate_specs` makes them from a key's KeyLimits(key_id="k1", rpm=10, tpm=1000).
RPM = AllowanceSpec("rpm:k1", "rpm", "sliding", 10)
TPM = AllowanceSpec("tpm:k1", "tpm", "sliding", 1000)


def replicas(cluster: Cluster, *names: str) -> list[LeaseClient]:
    clients = [cluster.replica(name) for name in names]
    for client in clients:
        client.use_rate(RPM)
        client.use_rate(TPM)
    return clients


def admit(client: LeaseClient, amount: float = 1) -> Reservation | None:
    reservation = client.reserve(RPM.key, amount)
    if reservation is not None:
        client.settle(reservation, amount)  # the call was made: busy for the next 60 s
    return reservation


async def test_two_replicas_admit_exactly_the_rpm_then_nothing_until_a_minute_has_passed() -> None:
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    await rounds(a, b, times=3)
    assert sum(admit(r) is not None for r in (a, b) for _ in range(30)) == 10
    # Rounds go on, the book rebalances, one replica cries starved: still nothing for 60 s.
    for _ in range(59):
        cluster.clock.now += 1
        assert admit(a) is None and admit(b) is None
        await rounds(a, b)
    cluster.clock.now += 1
    await rounds(a, b, times=3)
    assert sum(admit(r) is not None for r in (a, b) for _ in range(30)) == 10


async def test_no_sixty_seconds_ever_admit_more_than_the_rpm() -> None:
    """Calls land on either replica at random moments over ten minutes; rounds run in between,
    the lease moves to where the calls are. Every admitted call's time is kept and checked."""
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    chance = random.Random(11)
    admitted: list[float] = []
    start = cluster.clock.now
    while cluster.clock.now < start + 600:
        cluster.clock.now += chance.uniform(0.0, 0.5)
        # Bursts on one replica for a while, then the other: starved replicas, moving leases.
        replica = a if int(cluster.clock.now - start) // 45 % 2 == 0 else b
        if chance.random() < 0.9:
            replica = replica if chance.random() < 0.8 else (b if replica is a else a)
            if admit(replica) is not None:
                admitted.append(cluster.clock.now)
        if chance.random() < 0.3:
            await rounds(*chance.sample([a, b], 2), times=1)
    busiest = max(sum(1 for t in admitted if s <= t < s + 60) for s in admitted)
    assert busiest == 10  # the limit is reached, never passed
    assert len(admitted) >= 90  # and the calls were served, not starved, over ten minutes


async def test_a_replica_cut_off_from_the_actor_cannot_make_the_other_overshoot() -> None:
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    await rounds(a, b, times=3)
    on_a = take_all(a, RPM.key)
    assert on_a == 5  # each holds half

    async def cut_off(replica: str, reports: object) -> list[object]:
        raise ConnectionError("partition")

    a._sync = cut_off  # type: ignore[assignment]  # a hears nothing more from the actor
    cut_at = cluster.clock.now
    # a spends what it holds until its lease goes stale (20 s), its last call at +19 s.
    cluster.clock.now = cut_at + 19
    await rounds(a)
    a_last_call = cluster.clock.now
    used_late = admit(a)
    assert used_late is None  # a's five were all taken above (reserved, never settled)
    # b never gets a's part while a may still be using it, and a's units stay held for 60 s
    # after the actor lost sight of it, beyond its lease's 20 s.
    for second in range(20, 120):
        cluster.clock.now = cut_at + second
        await rounds(b)
        assert take_all(b, RPM.key) == (5 if second == 20 else 0)
    cluster.clock.now = cut_at + 121
    await rounds(b, times=2)
    assert cluster.clock.now - a_last_call >= 60
    assert take_all(b, RPM.key) == 5  # a's half, reclaimed once a's calls are a minute old


async def test_tokens_are_reserved_at_the_estimate_and_settled_at_what_was_used() -> None:
    cluster = Cluster()
    [a] = replicas(cluster, "a")
    await rounds(a, times=2)
    first = a.reserve(TPM.key, 600)
    assert first is not None
    assert a.reserve(TPM.key, 600) is None  # 600 reserved: 400 left
    a.settle(first, 250)  # the call used 250: 350 are free at once
    second = a.reserve(TPM.key, 750)
    assert second is not None
    a.settle(second, 750)
    assert a.reserve(TPM.key, 1) is None
    cluster.clock.now += 60
    await rounds(a)
    assert a.retry_after(TPM.key, 1000) == 1.0  # all of it free again now (1 s at the least)
    assert a.reserve(TPM.key, 1000) is not None


async def test_retry_after_is_when_the_oldest_unit_is_free_again() -> None:
    cluster = Cluster()
    [a] = replicas(cluster, "a")
    await rounds(a, times=2)
    for _ in range(10):
        admit(a)
        cluster.clock.now += 3
        await rounds(a, times=1)
    # The first call was 30 s ago: its unit is free in 30 s.
    assert a.retry_after(RPM.key, 1) == 30.0


async def test_a_key_dropped_when_idle_and_brought_back_gets_no_more_than_its_rpm() -> None:
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    await rounds(a, b, times=3)
    admit(a)
    cluster.clock.now += RATE_IDLE_S + 1
    await rounds(a, b, times=3)  # both drop the idle key and give back all of it
    assert not a.has(RPM.key) and not b.has(RPM.key)
    for replica in (a, b):
        replica.use_rate(RPM)
    # The fresh leases start from the book's counts, not from zero on top of them: right after
    # its first answer too, before any give-back could correct it.
    await rounds(a, times=1)
    on_a = take_all(a, RPM.key)
    await rounds(b, a, b, times=2)
    assert on_a + take_all(a, RPM.key) + take_all(b, RPM.key) == 10


async def test_a_keys_first_call_waits_for_one_round_then_finds_its_lease() -> None:
    cluster = Cluster()
    a = cluster.replica("a")
    assert not a.use_rate(RPM)
    assert a.reserve(RPM.key, 1) is None  # no lease yet: nothing to spend
    await a.first_round(RPM.key)
    assert a.use_rate(RPM)
    assert take_all(a, RPM.key) == 10


async def test_a_call_short_here_waits_for_the_units_another_replica_holds_free() -> None:
    """b used its half; a holds the other half and has no calls. b's next calls wait for a's free
    units to move over and get them, all five; the sixth finds every unit in use and is refused."""
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    await rounds(a, b, times=3)
    assert sum(admit(b) is not None for _ in range(5)) == 5
    for client in (a, b):
        client.start(0.001)
    try:
        waited = [b.reserve_soon(RPM.key, 1, within_s=30) for _ in range(6)]
        got = await asyncio.gather(*waited)
        assert sum(reservation is not None for reservation in got) == 5
        assert a.available(RPM.key) == 0
    finally:
        for client in (a, b):
            await client.aclose()


async def test_without_free_units_anywhere_a_short_call_does_not_wait() -> None:
    cluster = Cluster()
    a, b = replicas(cluster, "a", "b")
    await rounds(a, b, times=3)
    assert sum(admit(r) is not None for r in (a, b) for _ in range(5)) == 10
    await rounds(a, b, times=2)  # each now knows the other has all of its half in use
    b.start(3600)  # the rounds are on, but none comes during this test: no wait could end
    try:
        assert await b.reserve_soon(RPM.key, 1, within_s=3600) is None
    finally:
        await b.aclose()
