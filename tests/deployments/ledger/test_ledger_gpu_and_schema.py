"""Local models' GPU cost, kept apart from cash; and ledger files written by older versions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from deployments.canonical import Usage
from deployments.ledger import SQLiteLedgerStore, UsageRecord
from deployments.ledger.cost import gpu_cost_decimal
from deployments.ledger.store import SCHEMA_VERSION
from directory.schema import Pricing


def test_gpu_cost_is_the_gpu_hour_spread_over_the_replicas_throughput() -> None:
    # $3/GPU-hour, 100 tokens/s per replica: 360,000 tokens an hour, so 3,600 tokens cost 3 cents.
    assert gpu_cost_decimal(3_600, 3.0, 100) == Decimal("0.03")
    assert gpu_cost_decimal(3_600, None, 100) == 0  # no GPU price: nothing to amortise
    assert gpu_cost_decimal(3_600, 3.0, None) == 0  # no throughput (embedding models)


def test_a_local_models_record_has_gpu_cost_and_no_cash_cost() -> None:
    record = UsageRecord.priced(
        usage=Usage(input_tokens=500, output_tokens=3_600),
        pricing=Pricing(input=0, output=0, gpu_hour_usd=3.0, source="test"),
        call_id="r1",
        attempt=1,
        tenant="acme",
        agent="bot",
        shortcut="workhorse",
        model="local/m",
        provider="local",
        latency_ms=10,
        outcome="ok",
        gpu_tokens_per_s=100,
    )
    assert record.cost_usd == 0.0
    assert record.gpu_cost_usd == pytest.approx(0.03)


V1_SCHEMA = """
CREATE TABLE usage (
    request_id TEXT NOT NULL, attempt INTEGER NOT NULL, ts TEXT NOT NULL, day TEXT NOT NULL,
    tenant TEXT NOT NULL, agent TEXT NOT NULL, shortcut TEXT, model TEXT NOT NULL,
    provider TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, price_version TEXT NOT NULL,
    ttft_ms REAL, latency_ms REAL NOT NULL, outcome TEXT NOT NULL, error_kind TEXT,
    PRIMARY KEY (request_id, attempt)
);
INSERT INTO usage VALUES ('old', 1, '2026-01-05T10:00:00+00:00', '2026-01-05', 'acme', 'bot',
    NULL, 'm/x', 'm', 10, 5, 0, 0, 0, 0.25, 'v1', NULL, 100.0, 'ok', NULL);
"""


def v1_ledger(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
    return path


def test_a_version_1_ledger_is_read_without_gpu_cost_and_left_untouched(tmp_path: Path) -> None:
    path = v1_ledger(tmp_path / "old.sqlite")
    before = path.read_bytes()
    store = SQLiteLedgerStore(path, read_only=True)
    [row] = store.spend()
    store.close()
    assert (row.cost_usd, row.gpu_cost_usd) == (0.25, 0.0)
    assert path.read_bytes() == before
    with pytest.raises(PermissionError):
        SQLiteLedgerStore(path, read_only=True).write_batch([])


def test_a_version_1_ledger_is_migrated_when_opened_for_writing(tmp_path: Path) -> None:
    path = v1_ledger(tmp_path / "old.sqlite")
    store = SQLiteLedgerStore(path)
    store.write_batch(
        [
            UsageRecord(
                call_id="new",
                attempt=1,
                ts=datetime(2026, 1, 6, tzinfo=UTC),
                tenant="acme",
                agent="bot",
                model="local/m",
                provider="local",
                cost_usd=0.0,
                gpu_cost_usd=0.5,
                price_version="v2",
                latency_ms=1,
                outcome="ok",
            )
        ]
    )
    [total] = store.spend()
    assert (total.requests, total.cost_usd, total.gpu_cost_usd) == (2, 0.25, 0.5)
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # The old key column is the call id now; whose id it was is not known: no request id.
        keys = db.execute("SELECT call_id, request_id FROM usage ORDER BY call_id").fetchall()
    assert keys == [("new", None), ("old", None)]


def test_a_read_only_store_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SQLiteLedgerStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()
