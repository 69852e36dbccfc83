"""CostLedger: owns the ledger store (design §6).

A plain class, run as one named Ray actor that restarts by itself: each Ingress replica's
`ReplicaRuntime` creates it or finds it made by another (`deployments.named_actor`). It holds no
records in memory: on a (re)start it opens the store, and the store is the truth. Ingress replicas
send batches without waiting (`LedgerClient`) and resend whatever this actor did not acknowledge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deployments.ledger.records import UsageRecord
from deployments.ledger.store import Filters, LedgerStore, SpendRow, SQLiteLedgerStore


class CostLedger:
    def __init__(self, path: str | Path | None = None, *, store: LedgerStore | None = None) -> None:
        if store is None:
            if path is None:
                raise ValueError("CostLedger needs a store or a path for the SQLite store")
            store = SQLiteLedgerStore(path)
        self._store = store

    def write(self, batch: Sequence[UsageRecord]) -> list[tuple[str, int]]:
        """Store a batch in one transaction and acknowledge every key in it — those stored now and
        those stored by an earlier send of the same records."""
        self._store.write_batch(batch)
        return [record.key for record in batch]

    def spend(self, group_by: Sequence[str] = (), filters: Filters | None = None) -> list[SpendRow]:
        return self._store.spend(group_by, filters)

    def count(self) -> int:
        return self._store.count()

    def ping(self) -> str:
        return "ok"
