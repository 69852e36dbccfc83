"""The two cluster-wide actors on a real local Ray cluster: the ledger loses nothing and counts
nothing twice across a kill, and one ProviderHealth actor opens a breaker for every replica.

Waiting for background work polls with a deadline; nothing here asserts on timing.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.health import HealthClient, ProviderHealth, State
from deployments.ledger import CostLedger, LedgerClient, UsageRecord
from deployments.named_actor import create_named_actor

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]

NAMESPACE = "switchyard-tests"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def record(i: int) -> UsageRecord:
    return UsageRecord(
        call_id=f"req-{i:03d}",
        attempt=1,
        ts=datetime.now(UTC),
        tenant="acme" if i % 2 else "globex",
        agent="bot",
        shortcut="fast",
        model="openai/gpt-5-mini",
        provider="openai",
        input_tokens=100,
        output_tokens=10,
        cost_usd=0.001,
        price_version="v1",
        latency_ms=5.0,
        outcome="ok",
    )


async def test_ledger_loses_nothing_and_counts_nothing_twice_across_a_kill(tmp_path: Path) -> None:
    import ray

    name = unique("ledger")
    actor = create_named_actor(
        CostLedger, str(tmp_path / "ledger.db"), name=name, namespace=NAMESPACE, detached=False
    )
    client = LedgerClient.for_actor(name=name, namespace=NAMESPACE, batch_size=10, interval_s=0.02)
    client.start()
    for i in range(100):
        client.book(record(i))
        await asyncio.sleep(0.001)
    assert await wait_until(lambda: client.acked >= 30)
    pid = await actor.__ray_call__.remote(lambda _: os.getpid())
    ray.kill(actor, no_restart=False)  # Ray restarts it; it reopens the store
    for i in range(100, 200):
        client.book(record(i))
        await asyncio.sleep(0.001)
    assert await client.aclose(timeout_s=120)
    assert await actor.__ray_call__.remote(lambda _: os.getpid()) != pid  # it did restart

    assert await actor.count.remote() == 200
    (total,) = await actor.spend.remote([], {})
    assert (total.requests, total.attempts) == (200, 200)
    by_tenant = {row.group["tenant"]: row.requests for row in await actor.spend.remote(["tenant"])}
    assert by_tenant == {"acme": 100, "globex": 100}
    ray.kill(actor, no_restart=True)


async def test_one_health_actor_opens_the_breaker_for_every_replica() -> None:
    import ray

    name = unique("health")
    actor = create_named_actor(
        ProviderHealth, {"openai": (3, 30.0)}, name=name, namespace=NAMESPACE, detached=False
    )
    a = HealthClient.for_actor("replica-a", name=name, namespace=NAMESPACE)
    b = HealthClient.for_actor("replica-b", name=name, namespace=NAMESPACE)
    a.start(interval_s=0.05)
    b.start(interval_s=0.05)
    assert await wait_until(lambda: a.connected and b.connected)

    for _ in range(3):
        a.record("openai", False, "ProviderServerError")
    assert not a.is_available("openai")
    assert await wait_until(lambda: not b.is_available("openai"))
    assert b.states()["openai"].state is State.OPEN
    assert b.states()["openai"].view == "cluster"
    assert b.is_available("google")

    # The actor dies for good: both replicas keep routing on what they know.
    ray.kill(actor, no_restart=True)
    assert await wait_until(lambda: not b.connected)
    assert not a.is_available("openai") and not b.is_available("openai")

    # A new actor under the same name is found again without restarting the replicas. (Keep its
    # handle: a non-detached actor whose handles are all gone is collected.)
    successor = create_named_actor(ProviderHealth, name=name, namespace=NAMESPACE, detached=False)
    assert await wait_until(lambda: a.connected and b.connected)
    await a.aclose()
    await b.aclose()
    ray.kill(successor, no_restart=True)
