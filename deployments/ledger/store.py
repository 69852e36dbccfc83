"""Where usage records live: a small interface, and SQLite as the embedded default (design §6).

A cluster that wants a server database implements `LedgerStore`; nothing else changes. The
SQLite store keeps records on disk, so the CostLedger actor's memory does not grow with them
(SQLite's page cache is bounded), and writes each batch in one transaction with `INSERT OR IGNORE`
on the (call_id, attempt) primary key, so a batch sent twice is booked once. `call_id` is the
gateway's own id for a call; the caller's `X-Request-Id` is the `request_id` column, a label only.

The file carries its schema version (`PRAGMA user_version`). Version 2 added `gpu_cost_usd`;
version 3 renamed the key column `request_id` to `call_id` (older rows keep their key there) and
added the caller's `request_id` (NULL on older rows: which of their keys were callers' is not
known); version 4 added `estimated` (0 on older rows: they were booked from providers' counts, or
from nothing when a stream ended early); version 5 added `price_label`, which of a model's
scheduled prices applied (NULL on older rows: not recorded then). An older file is migrated in
place when the store opens it for writing. A read-only store (the `switchyard spend` CLI) never
writes, and reads an older file as it is: a version-1 file has no GPU cost, a file before version
4 no estimated records.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from deployments.ledger.records import UsageRecord

GROUP_KEYS = ("model", "provider", "shortcut", "agent", "tenant", "day")
# Filters: any group key (equality; None matches a missing shortcut), and an inclusive day range.
FILTER_KEYS = (*GROUP_KEYS, "since", "until")
FAILED_OUTCOMES = ("failed", "interrupted")  # a caller's own error is not the gateway failing

Filters = Mapping[str, str | None]


class SpendRow(BaseModel):
    """Totals for one group (or for everything, when grouped by nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: dict[str, str | None]
    requests: int  # distinct calls (call ids)
    attempts: int  # records
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    cost_usd: float  # cash
    failed: int  # attempts that failed or were interrupted
    gpu_cost_usd: float = 0.0  # local models' amortised GPU cost, apart from cash
    # Attempts booked from an estimate (they ended before the provider's count: a caller gone,
    # a stream cut): how much of the group's tokens and cost rests on estimates.
    estimated: int = 0


class LedgerStore(Protocol):
    def write_batch(self, records: Sequence[UsageRecord]) -> int:
        """Store the records; return how many were new. Idempotent per (call_id, attempt)."""
        ...

    def spend(self, group_by: Sequence[str] = (), filters: Filters | None = None) -> list[SpendRow]:
        """Totals grouped by any of GROUP_KEYS, costliest group first."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def check_query(group_by: Sequence[str], filters: Filters) -> None:
    """Reject unknown keys with a clear message (they also never reach SQL text unchecked)."""
    for key in group_by:
        if key not in GROUP_KEYS:
            raise ValueError(f"cannot group spend by {key!r}; choose from {', '.join(GROUP_KEYS)}")
    for key in filters:
        if key not in FILTER_KEYS:
            raise ValueError(
                f"cannot filter spend by {key!r}; choose from {', '.join(FILTER_KEYS)}"
            )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    call_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    request_id TEXT,
    ts TEXT NOT NULL,
    day TEXT NOT NULL,
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    shortcut TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL,
    gpu_cost_usd REAL NOT NULL DEFAULT 0,
    price_version TEXT NOT NULL,
    price_label TEXT,
    ttft_ms REAL,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    error_kind TEXT,
    PRIMARY KEY (call_id, attempt)
);
CREATE INDEX IF NOT EXISTS usage_day ON usage (day);
CREATE INDEX IF NOT EXISTS usage_tenant_day ON usage (tenant, day);
"""
SCHEMA_VERSION = 5

_COLUMNS = (
    "call_id",
    "attempt",
    "request_id",
    "ts",
    "day",
    "tenant",
    "agent",
    "shortcut",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "estimated",
    "cost_usd",
    "gpu_cost_usd",
    "price_version",
    "price_label",
    "ttft_ms",
    "latency_ms",
    "outcome",
    "error_kind",
)
_INSERT = (
    f"INSERT OR IGNORE INTO usage ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)

_Row = tuple[str | int | float | None, ...]


def _row(record: UsageRecord) -> _Row:
    return (
        record.call_id,
        record.attempt,
        record.request_id,
        record.ts.isoformat(),
        record.ts.date().isoformat(),  # UTC day: ts is UTC
        record.tenant,
        record.agent,
        record.shortcut,
        record.model,
        record.provider,
        record.input_tokens,
        record.output_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.cache_write_1h_tokens,
        int(record.estimated),
        record.cost_usd,
        record.gpu_cost_usd,
        record.price_version,
        record.price_label,
        record.ttft_ms,
        record.latency_ms,
        record.outcome,
        record.error_kind,
    )


class SQLiteLedgerStore:
    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if read_only:
            if not Path(self.path).exists():
                raise FileNotFoundError(f"no ledger at {self.path}")
            uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode, so that transactions are exactly the BEGIN/COMMIT written below.
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()  # one connection; the actor may call from a thread pool
        self._conn.execute("PRAGMA busy_timeout=5000")  # the actors and a CLI share the file
        if read_only:
            self.journal_mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        else:
            self.journal_mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            # FULL, not NORMAL. Under WAL both survive the process being killed; they differ on
            # an OS crash or power loss. NORMAL syncs the WAL only at checkpoints, so the last
            # commits can vanish, and those batches were already acknowledged: their replicas
            # have deleted the journal segments that held them (journal.py), and the records
            # would be lost. FULL syncs the WAL at each commit, so an acknowledged batch is on
            # disk. It costs one fsync per batch (≤100 records, every flush period), in the
            # actor, off the request path: a 100-row batch's commit went from p50 0.23-0.26 ms
            # to 0.48-1.2 ms (`python -m benchmarks.journal_fsync`, two runs on the dev VM).
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            self._migrate()
        self._columns = {row[1] for row in self._conn.execute("PRAGMA table_info(usage)")}

    def _migrate(self) -> None:
        """Bring a file written by an older Switchyard up to SCHEMA_VERSION, in place."""
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version >= SCHEMA_VERSION:
            return
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(usage)")}
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if "gpu_cost_usd" not in columns:  # version 1
                self._conn.execute(
                    "ALTER TABLE usage ADD COLUMN gpu_cost_usd REAL NOT NULL DEFAULT 0"
                )
            if "call_id" not in columns:  # versions 1 and 2: their key was the caller's id or ours
                self._conn.execute("ALTER TABLE usage RENAME COLUMN request_id TO call_id")
                self._conn.execute("ALTER TABLE usage ADD COLUMN request_id TEXT")
            if "estimated" not in columns:  # versions 1 to 3
                self._conn.execute(
                    "ALTER TABLE usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0"
                )
            if "price_label" not in columns:  # versions 1 to 4
                self._conn.execute("ALTER TABLE usage ADD COLUMN price_label TEXT")
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def write_batch(self, records: Sequence[UsageRecord]) -> int:
        if self.read_only:
            raise PermissionError(f"the ledger at {self.path} is open read-only")
        rows = [_row(record) for record in records]
        if not rows:
            return 0
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_INSERT, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    def spend(self, group_by: Sequence[str] = (), filters: Filters | None = None) -> list[SpendRow]:
        filters = dict(filters or {})
        check_query(group_by, filters)
        where: list[str] = []
        params: list[str] = []
        for key, value in filters.items():
            if key == "since":
                where.append("day >= ?")
            elif key == "until":
                where.append("day <= ?")
            elif value is None:
                where.append(f"{key} IS NULL")
                continue
            else:
                where.append(f"{key} = ?")
            params.append(str(value))
        groups = list(dict.fromkeys(group_by))  # keys are checked against GROUP_KEYS above
        n = len(groups)
        failed = ", ".join(f"'{outcome}'" for outcome in FAILED_OUTCOMES)
        gpu = "gpu_cost_usd" if "gpu_cost_usd" in self._columns else "0.0"  # a version-1 file
        key = "call_id" if "call_id" in self._columns else "request_id"  # versions 1 and 2
        estimated = "estimated" if "estimated" in self._columns else "0"  # versions 1 to 3
        sql = (
            f"SELECT {''.join(g + ', ' for g in groups)}"
            f"COUNT(DISTINCT {key}), COUNT(*), "
            "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
            f"COALESCE(SUM(cost_usd), 0.0), COALESCE(SUM(outcome IN ({failed})), 0), "
            f"COALESCE(SUM({gpu}), 0.0), COALESCE(SUM({estimated}), 0) "
            "FROM usage"
        )
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        if groups:
            # Costliest first (column n + 7 is the cost), then by the groups for a stable order.
            sql += f" GROUP BY {', '.join(groups)} ORDER BY {n + 7} DESC, {', '.join(groups)}"
        with self._lock:
            result = self._conn.execute(sql, params).fetchall()
        return [
            SpendRow(
                group=dict(zip(groups, row[:n], strict=True)),
                requests=row[n],
                attempts=row[n + 1],
                input_tokens=row[n + 2],
                output_tokens=row[n + 3],
                cached_input_tokens=row[n + 4],
                cache_write_tokens=row[n + 5],
                cost_usd=row[n + 6],
                failed=row[n + 7],
                gpu_cost_usd=row[n + 8],
                estimated=row[n + 9],
            )
            for row in result
        ]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM usage").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
