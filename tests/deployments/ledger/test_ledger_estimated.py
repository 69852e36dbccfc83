"""Records booked from an estimate (a stream that ended early) say so; version-3 files migrate."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.canonical import Usage
from deployments.ledger import SQLiteLedgerStore, UsageRecord
from deployments.ledger.store import SCHEMA_VERSION
from directory.schema import Pricing

PRICING = Pricing(input=1.0, output=4.0, source="test")

V3_FILE = """
CREATE TABLE usage (
    call_id TEXT NOT NULL, attempt INTEGER NOT NULL, request_id TEXT, ts TEXT NOT NULL,
    day TEXT NOT NULL, tenant TEXT NOT NULL, agent TEXT NOT NULL, shortcut TEXT,
    model TEXT NOT NULL, provider TEXT NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, cache_write_1h_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, gpu_cost_usd REAL NOT NULL DEFAULT 0, price_version TEXT NOT NULL,
    ttft_ms REAL, latency_ms REAL NOT NULL, outcome TEXT NOT NULL, error_kind TEXT,
    PRIMARY KEY (call_id, attempt)
);
INSERT INTO usage VALUES ('old', 1, NULL, '2026-11-05T10:00:00+00:00', '2026-11-05', 'acme',
    'bot', NULL, 'm/x', 'm', 10, 5, 0, 0, 0, 0.25, 0, 'v', NULL, 100.0, 'ok', NULL);
PRAGMA user_version = 3;
"""


def v3_ledger(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(V3_FILE)
    return path


def record(call_id: str, usage: Usage, outcome: str = "interrupted") -> UsageRecord:
    return UsageRecord.priced(
        usage=usage,
        pricing=PRICING,
        call_id=call_id,
        attempt=1,
        tenant="acme",
        agent="bot",
        shortcut=None,
        model="m/x",
        provider="m",
        latency_ms=5,
        outcome=outcome,  # type: ignore[arg-type]
        ts=datetime(2026, 11, 6, tzinfo=UTC),
    )


def test_an_estimated_usage_makes_an_estimated_record_priced_like_any_other() -> None:
    booked = record("c1", Usage(input_tokens=6, output_tokens=1, estimated=True))
    assert booked.estimated
    assert booked.cost_usd == pytest.approx((6 * 1 + 1 * 4) / 1e6)
    assert not record("c2", Usage(input_tokens=6, output_tokens=1), "ok").estimated


def test_spend_counts_the_estimated_records_of_each_group(tmp_path: Path) -> None:
    store = SQLiteLedgerStore(tmp_path / "ledger.sqlite")
    store.write_batch(
        [
            record("c1", Usage(input_tokens=6, output_tokens=1, estimated=True)),
            record("c2", Usage(input_tokens=10, output_tokens=3), "ok"),
        ]
    )
    [row] = store.spend(["tenant"])
    store.close()
    assert (row.attempts, row.estimated, row.output_tokens) == (2, 1, 4)


def test_a_version_3_ledger_is_read_as_is_and_migrated_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    path = v3_ledger(tmp_path / "v3.sqlite")
    before = path.read_bytes()
    reader = SQLiteLedgerStore(path, read_only=True)
    [row] = reader.spend()
    reader.close()
    assert (row.cost_usd, row.estimated) == (0.25, 0)
    assert path.read_bytes() == before  # a read-only store never migrates

    store = SQLiteLedgerStore(path)
    store.write_batch([record("new", Usage(input_tokens=6, output_tokens=1, estimated=True))])
    [total] = store.spend()
    store.close()
    assert (total.requests, total.estimated) == (2, 1)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = db.execute("SELECT call_id, estimated FROM usage ORDER BY call_id").fetchall()
    assert rows == [("new", 1), ("old", 0)]  # the old row was booked from a provider's count
