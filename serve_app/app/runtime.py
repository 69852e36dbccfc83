"""What an Ingress replica keeps beside its gateway: the breaker view, the ledger outbox, the
free-tier and budget leases, the API keys, and the metrics buffer.

Each talks to its cluster-wide actor (ProviderHealth, CostLedger, Allowances) or to Ray's metrics
agent only from background tasks, so the request path never waits on an actor. The actors are
created on first use by whichever replica comes first (`get_if_exists`), detached and
self-restarting.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from typing import Any

from deployments.health.actor import ProviderHealth
from deployments.health.client import HealthClient
from deployments.ledger.actor import CostLedger
from deployments.ledger.client import LedgerClient
from deployments.ledger.journal import journal_root, open_journal
from deployments.named_actor import NamedActor, create_named_actor
from directory.schema import Directory
from serve_app.allowances.actor import Allowances
from serve_app.allowances.replica import LeaseClient
from serve_app.identity.cache import ActorKeys, KeyCache
from serve_app.routing.metrics import RayMeter

HEALTH_ACTOR = "switchyard-provider-health"
LEDGER_ACTOR = "switchyard-cost-ledger"
ALLOWANCES_ACTOR = "switchyard-allowances"
METRICS_FLUSH_S = 1.0


def breaker_settings(directory: Directory) -> dict[str, tuple[int, float]]:
    return {
        pid: (provider.breaker.failure_threshold, provider.breaker.cooldown_s)
        for pid, provider in directory.providers.items()
    }


class ReplicaRuntime:
    def __init__(
        self,
        *,
        namespace: str,
        ledger_path: str,
        health_sync_s: float = 0.1,
        ledger_flush_s: float = 0.2,
        notices: dict[str, str] | None = None,
        allowance_sync_s: float = 0.1,
    ) -> None:
        self.notices = dict(notices or {})
        replica_id = f"ingress-{uuid.uuid4().hex[:8]}"
        # Creating an actor returns at once; Ray starts it in the background.
        create_named_actor(ProviderHealth, name=HEALTH_ACTOR, namespace=namespace)
        create_named_actor(CostLedger, ledger_path, name=LEDGER_ACTOR, namespace=namespace)
        create_named_actor(
            Allowances, ledger_path, True, name=ALLOWANCES_ACTOR, namespace=namespace
        )
        self.health = HealthClient.for_actor(replica_id, name=HEALTH_ACTOR, namespace=namespace)
        # Every record is journaled on this node before its answer ends; journals left here by
        # dead replicas are replayed by this one's sender (deployments/ledger/journal.py).
        self.ledger = LedgerClient.for_actor(
            name=LEDGER_ACTOR,
            namespace=namespace,
            journal=open_journal(journal_root(ledger_path), replica_id),
            interval_s=ledger_flush_s,
        )
        self.leases = LeaseClient.for_actor(replica_id, name=ALLOWANCES_ACTOR, namespace=namespace)
        self.meter = RayMeter()
        self._ledger_actor = NamedActor(LEDGER_ACTOR, namespace)
        self._allowances_actor = NamedActor(ALLOWANCES_ACTOR, namespace)
        self.keys = KeyCache(ActorKeys(NamedActor(ALLOWANCES_ACTOR, namespace)))
        self._health_sync_s = health_sync_s
        self._ledger_flush_s = ledger_flush_s
        self._allowance_sync_s = allowance_sync_s
        self._started = False

    def ensure_started(self) -> None:
        """Start the background tasks on the replica's event loop, once (cheap to call).

        Every entry of the Ingress calls it, and so does its constructor when it runs on the
        loop: a replica that has served no chat yet must still learn of open breakers.
        """
        if not self._started:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # not on the replica's loop yet; the first request will start them
            self._started = True
            self.health.start(self._health_sync_s)
            self.ledger.start()
            self.leases.start(self._allowance_sync_s)
            self.keys.start()
            self.meter.start(METRICS_FLUSH_S, self._breaker_states)

    def configure_breakers(self, directory: Directory) -> None:
        self.health.configure(breaker_settings(directory))

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]:
        states = self.health.states()
        return [
            {"id": pid, "adapter": provider.adapter, **_plain(states.get(pid))}
            for pid, provider in directory.providers.items()
        ]

    def _breaker_states(self) -> dict[str, str]:
        return {pid: status.state.value for pid, status in self.health.states().items()}

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]:
        rows = await self._ledger_actor.call("spend", group_by, filters)
        return [_plain(row) for row in rows]

    async def allowances(self) -> list[dict[str, Any]]:
        """Every free tier and budget in its current window, as the Allowances actor counts it."""
        return [status.as_dict() for status in await self._allowances_actor.call("status")]

    async def close(self) -> None:
        await asyncio.gather(
            self.ledger.aclose(),
            self.health.aclose(),
            self.leases.aclose(),
            self.meter.aclose(),
            self.keys.aclose(),
        )


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {"state": "closed", "consecutive_failures": 0}
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(mode="json"))
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return dict(value)
