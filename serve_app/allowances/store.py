"""The lease book's SQLite store: two small tables in the ledger's own file.

Beside the usage records, so that a new window can start from what the ledger already holds
(`seed`), and so that one file is the whole state of spending to back up. Its own connection: the
Allowances actor and the CostLedger actor each write their tables; WAL lets them, and the busy
timeout queues the rare moment both commit at once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from deployments.ledger.sqlite_file import open_ledger_file
from serve_app.allowances.book import Allowance, Holder
from serve_app.allowances.messages import AllowanceSpec
from serve_app.allowances.windows import Window

_SCHEMA = """
CREATE TABLE IF NOT EXISTS allowance (
    key TEXT NOT NULL,
    win TEXT NOT NULL,
    kind TEXT NOT NULL,
    reset TEXT NOT NULL,
    limit_value REAL NOT NULL,
    model TEXT,
    tenant TEXT,
    agent TEXT,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    base REAL NOT NULL,
    exhausted_until REAL,
    PRIMARY KEY (key, win)
);
CREATE INDEX IF NOT EXISTS allowance_end ON allowance (window_end);
CREATE TABLE IF NOT EXISTS allowance_lease (
    key TEXT NOT NULL,
    win TEXT NOT NULL,
    replica TEXT NOT NULL,
    granted REAL NOT NULL,
    consumed REAL NOT NULL,
    returned REAL NOT NULL,
    last_seen REAL NOT NULL,
    starved_at REAL,
    PRIMARY KEY (key, win, replica)
);
"""

_UPSERT_ALLOWANCE = (
    "INSERT OR REPLACE INTO allowance (key, win, kind, reset, limit_value, model, tenant, agent, "
    "window_start, window_end, base, exhausted_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_HOLDER = (
    "INSERT OR REPLACE INTO allowance_lease (key, win, replica, granted, consumed, returned, "
    "last_seen, starved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _iso(unix: float) -> str:
    # The usage table's `ts` format, so that text comparison orders them.
    return datetime.fromtimestamp(unix, UTC).isoformat()


def _day(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).date().isoformat()


class SQLiteAllowanceStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # NORMAL: the book writes on every replica's sync round (10 a second per replica), and
        # FULL would fsync each. The price: an OS crash (not a killed actor) can lose the last
        # rounds' grants, so a budget or rate limit may be granted again up to what was leased
        # in the moments before the crash.
        self._conn = open_ledger_file(self.path, synchronous="NORMAL", schema=_SCHEMA)
        self._lock = threading.Lock()

    def load(self, ended_after: float) -> list[Allowance]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, win, kind, reset, limit_value, model, tenant, agent, window_start, "
                "window_end, base, exhausted_until FROM allowance WHERE window_end > ?",
                (ended_after,),
            ).fetchall()
            allowances: dict[tuple[str, str], Allowance] = {}
            for key, win, kind, reset, limit, model, tenant, agent, start, end, base, until in rows:
                spec = AllowanceSpec(
                    key, kind, reset, limit, model=model, tenant=tenant, agent=agent
                )
                allowances[(key, win)] = Allowance(spec, Window(win, start, end), base, until)
            holders = self._conn.execute(
                "SELECT l.key, l.win, l.replica, l.granted, l.consumed, l.returned, l.last_seen, "
                "l.starved_at FROM allowance_lease l JOIN allowance a "
                "ON a.key = l.key AND a.win = l.win WHERE a.window_end > ?",
                (ended_after,),
            ).fetchall()
        for key, win, replica, granted, consumed, returned, last_seen, starved_at in holders:
            allowance = allowances.get((key, win))
            if allowance is not None:
                allowance.holders[replica] = Holder(
                    granted, consumed, returned, last_seen, starved_at
                )
        return list(allowances.values())

    def save(self, allowances: Sequence[Allowance]) -> None:
        unique = {(c.spec.key, c.window.key): c for c in allowances}.values()
        allowance_rows = [
            (
                c.spec.key,
                c.window.key,
                c.spec.kind,
                c.spec.reset,
                c.spec.limit,
                c.spec.model,
                c.spec.tenant,
                c.spec.agent,
                c.window.start,
                c.window.end,
                c.base,
                c.exhausted_until,
            )
            for c in unique
        ]
        holder_rows = [
            (
                c.spec.key,
                c.window.key,
                replica,
                h.granted,
                h.consumed,
                h.returned,
                h.last_seen,
                h.starved_at,
            )
            for c in unique
            for replica, h in c.holders.items()
        ]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_UPSERT_ALLOWANCE, allowance_rows)
                self._conn.executemany(_UPSERT_HOLDER, holder_rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def consumed_between(self, key: str, start: float, end: float) -> float:
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(l.consumed), 0) FROM allowance_lease l JOIN allowance a "
                "ON a.key = l.key AND a.win = l.win "
                "WHERE a.key = ? AND a.window_start >= ? AND a.window_start < ?",
                (key, start, end),
            ).fetchone()
        return float(row[0])

    def seed(self, spec: AllowanceSpec, window: Window) -> float:
        """What the usage ledger holds against `spec` in `window`."""
        # The day bounds use the usage table's index; the ts bounds make them exact.
        where = "day >= ? AND day <= ? AND ts >= ? AND ts < ?"
        params: list[str] = [_day(window.start), _day(window.end), _iso(window.start)]
        params.append(_iso(window.end))
        if spec.kind == "budget":
            what = "SUM(cost_usd)"
            where += " AND tenant = ?"
            params.append(spec.tenant or "")
            if spec.agent is not None:
                where += " AND agent = ?"
                params.append(spec.agent)
        else:
            # A free tier counts the calls its provider served.
            what = (
                "COUNT(*)" if spec.kind == "free_requests" else "SUM(input_tokens + output_tokens)"
            )
            where += " AND model = ? AND outcome IN ('ok', 'interrupted')"
            params.append(spec.model or "")
        with self._lock:
            try:
                row = self._conn.execute(
                    f"SELECT COALESCE({what}, 0) FROM usage WHERE {where}", params
                ).fetchone()
            except sqlite3.OperationalError:
                return 0.0  # no usage table yet: nothing was ever booked
        return float(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def current_allowances(path: str | Path, now: float) -> list[dict[str, object]]:
    """Every allowance's current window as the file holds it, read-only (the `spend` CLI).

    The same fields as `AllowanceStatus.as_dict`, less the replicas' leases (keys' rate limits are
    no spend and are left out, as `AllowanceBook.status` does); `used` counts what the
    replicas had reported when they last synced. Empty for a file no Allowances actor wrote to.
    """
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        try:
            rows = conn.execute(
                "SELECT a.key, a.kind, a.model, a.tenant, a.agent, a.reset, a.win, a.window_end, "
                "a.limit_value, a.base + COALESCE(SUM(l.consumed), 0), a.exhausted_until "
                "FROM allowance a LEFT JOIN allowance_lease l ON a.key = l.key AND a.win = l.win "
                "WHERE a.window_start <= ? AND a.window_end > ? AND a.kind NOT IN ('rpm', 'tpm') "
                "GROUP BY a.key, a.win "
                "ORDER BY a.key",
                (now, now),
            ).fetchall()
        except sqlite3.OperationalError:
            return []  # written before allowances existed
    finally:
        conn.close()
    allowances = []
    for key, kind, model, tenant, agent, reset, win, end, limit, used, until in rows:
        exhausted = until if until is not None and until > now else None
        allowances.append(
            {
                "key": key,
                "kind": kind,
                "model": model,
                "tenant": tenant,
                "agent": agent,
                "reset": reset,
                "window": win,
                "window_end": end,
                "limit": limit,
                "used": used,
                "remaining": 0.0 if exhausted else max(0.0, limit - used),
                "exhausted_until": exhausted,
            }
        )
    return allowances
