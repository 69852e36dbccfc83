"""KeyBook: the cluster's key table, as the Allowances actor serves it to the Ingress replicas.

Replicas poll `snapshot(version)` every fraction of a second; an unchanged table answers None, so
polling costs a version comparison. The version is this book's epoch (new each time the actor
starts) and a counter bumped on every change, so a restarted actor can never answer "unchanged"
to a replica holding a table from before the restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from serve_app.identity.keys import ApiKey
from serve_app.identity.store import SQLiteKeyStore

Snapshot = tuple[str, dict[str, ApiKey]]  # (version, hash -> record of every usable key)


class KeyBook:
    def __init__(
        self, store: SQLiteKeyStore | str | Path, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store if isinstance(store, SQLiteKeyStore) else SQLiteKeyStore(store)
        self._clock = clock
        self._epoch = uuid.uuid4().hex[:8]
        self._changes = 0

    @property
    def version(self) -> str:
        return f"{self._epoch}:{self._changes}"

    def snapshot(self, known: str | None = None) -> Snapshot | None:
        """Every usable key, unless the caller already holds this version (then None)."""
        if known == self.version:
            return None
        now = self._clock()
        return self.version, {h: k for h, k in self._store.active().items() if k.usable(now)}

    def add(self, record: ApiKey, hashed: str) -> ApiKey:
        self._store.add(record, hashed)
        self._changes += 1
        return record

    def records(self) -> list[ApiKey]:
        return self._store.records()

    def revoke(self, key_id: str) -> ApiKey | None:
        record = self._store.revoke(key_id, self._clock())
        if record is not None:
            self._changes += 1
        return record
