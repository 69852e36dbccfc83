"""Allowances: the actor that owns every free tier and budget, beside the ledger (design §6).

A plain class, run as one named, self-restarting Ray actor next to CostLedger: each Ingress
replica's `ReplicaRuntime` creates it or finds it made by another.
It is its own actor rather than more methods on CostLedger so that a slow ledger batch never
delays the leases routing depends on. Its state is in the ledger's SQLite file
(`SQLiteAllowanceStore`) and written before each answer, so a restart grants nothing twice.

It also serves the API key table (`serve_app.identity.book.KeyBook`, in the same file): keys are
the other half of "who may spend what", and one actor costs one process less than two.

It also exports what is left of each allowance as Prometheus gauges through Ray's metrics agent:
the actor is the one place that knows the cluster's totals, so it is the one place to export them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from serve_app.allowances.book import AllowanceBook, AllowanceStore
from serve_app.allowances.messages import AllowanceSpec, AllowanceStatus, LeaseGrant, LeaseReport
from serve_app.allowances.store import SQLiteAllowanceStore
from serve_app.identity.book import KeyBook, Snapshot
from serve_app.identity.keys import ApiKey


class Allowances:
    def __init__(
        self,
        path: str | Path | None = None,
        export_metrics: bool = False,  # positional: named actors get positional arguments only
        *,
        store: AllowanceStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if store is None and path is not None:
            store = SQLiteAllowanceStore(path)
        self._book = AllowanceBook(store, clock=clock)
        self._gauges = _RemainingGauges() if export_metrics else None
        self._keys = KeyBook(":memory:" if path is None else path, clock=clock)

    def sync(self, replica: str, reports: Sequence[LeaseReport]) -> list[LeaseGrant]:
        """One replica's round: take its reports, answer with its leases and the totals."""
        grants = self._book.sync(replica, reports)
        if self._gauges is not None:
            for report, grant in zip(reports, grants, strict=True):
                self._gauges.set(report.spec, grant)
        return grants

    def status(self) -> list[AllowanceStatus]:
        return self._book.status()

    def ping(self) -> str:
        return "ok"

    # --- API keys (replicas: `serve_app.identity.cache.KeyCache`) --------------------------------

    def keys_snapshot(self, known: str | None) -> Snapshot | None:
        return self._keys.snapshot(known)

    def add_key(self, record: ApiKey, hashed: str) -> ApiKey:
        return self._keys.add(record, hashed)

    def key_records(self) -> list[ApiKey]:
        return self._keys.records()

    def revoke_key(self, key_id: str) -> ApiKey | None:
        return self._keys.revoke(key_id)


class _RemainingGauges:
    """`switchyard_free_tier_remaining` and `switchyard_budget_remaining_usd`.

    Set when a value changes and again every `refresh_s`: Ray exports a gauge only for the
    intervals in which it was set, and a free tier nobody uses still has something left."""

    def __init__(self, refresh_s: float = 2.0) -> None:
        from ray.util.metrics import Gauge

        self._free: Any = Gauge(
            "switchyard_free_tier_remaining",
            description="What a free tier still allows in its current window (requests or tokens).",
            tag_keys=("model", "unit"),
        )
        self._budget: Any = Gauge(
            "switchyard_budget_remaining_usd",
            description="What a tenant's or agent's budget still allows this period, USD.",
            tag_keys=("tenant", "agent", "period"),
        )
        self._refresh_s = refresh_s
        self._last: dict[str, tuple[float, float]] = {}  # key -> (value, when it was set)

    def set(self, spec: AllowanceSpec, grant: LeaseGrant) -> None:
        if spec.is_rate:
            return  # a key's rate limit: one label value per key would grow the series unbounded
        remaining = 0.0 if grant.exhausted_until is not None else max(0.0, grant.limit - grant.used)
        now = time.monotonic()
        last = self._last.get(spec.key)
        if last is not None and last[0] == remaining and now - last[1] < self._refresh_s:
            return
        self._last[spec.key] = (remaining, now)
        if spec.kind == "budget":
            period = "month" if spec.reset == "month" else "day"
            tags = {"tenant": spec.tenant or "", "agent": spec.agent or "*", "period": period}
            self._budget.set(remaining, tags)
        else:
            unit = "requests" if spec.kind == "free_requests" else "tokens"
            self._free.set(remaining, {"model": spec.model or "", "unit": unit})
