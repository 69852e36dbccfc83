"""The keys' SQLite store: one table in the ledger's own file, beside usage and allowances.

One file is the whole state of who may spend and what was spent, to back up together. It holds
each key's SHA-256 and its record, never the key. Its own connection, like the allowances' store:
WAL lets the actors that share the file each write their tables.
"""

from __future__ import annotations

import threading
from pathlib import Path

from deployments.ledger.sqlite_file import open_ledger_file
from serve_app.identity.keys import ApiKey

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_key (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    record TEXT NOT NULL,
    revoked_at REAL
);
"""


class SQLiteKeyStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # FULL: keys change rarely, and a revocation must not come undone after an OS crash.
        self._conn = open_ledger_file(self.path, synchronous="FULL", schema=_SCHEMA)
        self._lock = threading.Lock()

    def add(self, record: ApiKey, hashed: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_key (id, key_hash, tenant, record, revoked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.id, hashed, record.tenant, record.model_dump_json(), record.revoked_at),
            )

    def revoke(self, key_id: str, now: float) -> ApiKey | None:
        """The key's record, revoked (at `now`, or when it first was); None for no such key."""
        with self._lock:
            row = self._conn.execute(
                "SELECT record, revoked_at FROM api_key WHERE id = ?", (key_id,)
            ).fetchone()
            if row is None:
                return None
            record = ApiKey.model_validate_json(row[0])
            if row[1] is not None:
                return record.model_copy(update={"revoked_at": row[1]})
            record = record.model_copy(update={"revoked_at": now})
            self._conn.execute(
                "UPDATE api_key SET revoked_at = ?, record = ? WHERE id = ?",
                (now, record.model_dump_json(), key_id),
            )
        return record

    def records(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT record FROM api_key ORDER BY rowid").fetchall()
        return [ApiKey.model_validate_json(row[0]) for row in rows]

    def active(self) -> dict[str, ApiKey]:
        """hash -> record of every key not revoked (expired ones too: expiry is checked on use)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key_hash, record FROM api_key WHERE revoked_at IS NULL"
            ).fetchall()
        return {hashed: ApiKey.model_validate_json(record) for hashed, record in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
