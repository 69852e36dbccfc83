"""The ledger books each attempt at the prices in force when it was made, and keeps which.

DeepSeek V4 Pro (the shipped directory) charges $1.32/$3.96 per million tokens at peak (09:00-12:00
and 14:00-18:00 Beijing time, weekdays) and half that off-peak; the store is SQLite on disk.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.canonical import Usage
from deployments.ledger.records import UsageRecord
from deployments.ledger.store import SCHEMA_VERSION, SQLiteLedgerStore
from directory.loader import load_directory
from directory.schema import Pricing

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.fixture(scope="module")
def deepseek() -> Pricing:
    return (
        load_directory(now=datetime(2026, 12, 5, tzinfo=UTC))
        .models["deepseek/deepseek-v4-pro"]
        .pricing
    )


def booked(call_id: str, pricing: Pricing, ended: datetime, latency_ms: float) -> UsageRecord:
    return UsageRecord.priced(
        usage=MILLION,
        pricing=pricing,
        call_id=call_id,
        attempt=0,
        tenant="acme",
        agent="bot",
        shortcut=None,
        model="deepseek/deepseek-v4-pro",
        provider="deepseek",
        latency_ms=latency_ms,
        outcome="ok",
        ts=ended,
    )


def test_a_peak_call_and_an_off_peak_call_are_booked_at_their_own_prices(
    tmp_path: Path, deepseek: Pricing
) -> None:
    store = SQLiteLedgerStore(tmp_path / "ledger.sqlite")
    store.write_batch(
        [
            # Monday 2026-12-07, 10:00 Beijing time (02:00 UTC): peak.
            booked("peak", deepseek, datetime(2026, 12, 7, 2, 0, 5, tzinfo=UTC), 5_000),
            # Monday 13:00 Beijing time (05:00 UTC): the lunch hours are off-peak.
            booked("off-peak", deepseek, datetime(2026, 12, 7, 5, 0, 5, tzinfo=UTC), 5_000),
            # Made at 11:59:30 Beijing time, ended after noon: the price when it was made.
            booked("made-at-peak", deepseek, datetime(2026, 12, 7, 4, 0, 30, tzinfo=UTC), 60_000),
        ]
    )
    store.close()
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        rows = db.execute(
            "SELECT call_id, cost_usd, price_label, price_version FROM usage ORDER BY ts"
        ).fetchall()
    by_call = {call_id: (cost, label, version) for call_id, cost, label, version in rows}
    assert by_call["peak"][:2] == (pytest.approx(1.32 + 3.96), "tod-2026-08/peak")
    assert by_call["off-peak"][:2] == (pytest.approx(0.66 + 1.98), "tod-2026-08/off-peak")
    assert by_call["made-at-peak"][:2] == (pytest.approx(1.32 + 3.96), "tod-2026-08/peak")
    assert by_call["peak"][2] != by_call["off-peak"][2]  # the price versions differ too


def test_a_call_before_the_switch_is_booked_at_the_old_flat_price(deepseek: Pricing) -> None:
    record = booked("old", deepseek, datetime(2026, 8, 16, 15, 0, tzinfo=UTC), 1_000)
    assert (record.cost_usd, record.price_label) == (pytest.approx(0.435 + 0.87), "flat-2026")


def test_a_version_4_ledger_gains_the_price_label_column(tmp_path: Path, deepseek: Pricing) -> None:
    path = tmp_path / "v4.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE usage (
                call_id TEXT NOT NULL, attempt INTEGER NOT NULL, request_id TEXT,
                ts TEXT NOT NULL, day TEXT NOT NULL, tenant TEXT NOT NULL, agent TEXT NOT NULL,
                shortcut TEXT, model TEXT NOT NULL, provider TEXT NOT NULL,
                input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                cached_input_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
                cache_write_1h_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL NOT NULL, gpu_cost_usd REAL NOT NULL DEFAULT 0,
                price_version TEXT NOT NULL, ttft_ms REAL, latency_ms REAL NOT NULL,
                outcome TEXT NOT NULL, error_kind TEXT, PRIMARY KEY (call_id, attempt)
            );
            INSERT INTO usage VALUES ('old', 0, NULL, '2026-12-01T00:00:00+00:00', '2026-12-01',
                'acme', 'bot', NULL, 'm/x', 'm', 10, 5, 0, 0, 0, 0, 0.25, 0, 'v', NULL, 10, 'ok',
                NULL);
            PRAGMA user_version = 4;
            """
        )
    store = SQLiteLedgerStore(path)
    store.write_batch([booked("new", deepseek, datetime(2026, 12, 7, 2, tzinfo=UTC), 1_000)])
    [total] = store.spend()
    store.close()
    assert total.requests == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        labels = db.execute("SELECT call_id, price_label FROM usage ORDER BY call_id").fetchall()
    assert labels == [("new", "tod-2026-08/peak"), ("old", None)]  # not recorded before v5
