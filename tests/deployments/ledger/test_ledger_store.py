"""UsageRecord, the SQLite store and the CostLedger class, without Ray."""

from __future__ import annotations

import pickle
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from deployments.canonical import Usage
from deployments.ledger import CostLedger, SQLiteLedgerStore, UsageRecord, price_version

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


class _Prices:
    input = 3.0
    output = 15.0
    cached_input = 0.3
    cache_write = 3.75
    cache_write_1h = None
    long_context = None
    gpu_hour_usd = None


def record(
    request_id: str,
    attempt: int = 1,
    *,
    ts: datetime = T0,
    tenant: str = "acme",
    agent: str = "bot",
    shortcut: str | None = "smart",
    model: str = "anthropic/claude-sonnet-4-5",
    provider: str = "anthropic",
    cost: float = 0.01,
    outcome: str = "ok",
    tokens: tuple[int, int] = (100, 10),
) -> UsageRecord:
    return UsageRecord(
        call_id=request_id,
        attempt=attempt,
        ts=ts,
        tenant=tenant,
        agent=agent,
        shortcut=shortcut,
        model=model,
        provider=provider,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=cost,
        price_version="abc123def456",
        ttft_ms=120.0,
        latency_ms=800.0,
        outcome=outcome,  # type: ignore[arg-type]
        error_kind=None if outcome == "ok" else "ProviderServerError",
    )


# --- records ------------------------------------------------------------------------------------


def test_record_is_frozen_keyed_and_utc() -> None:
    paris = timezone(timedelta(hours=1))
    rec = record("r1", 2, ts=datetime(2026, 3, 2, 0, 30, tzinfo=paris))
    assert rec.key == ("r1", 2)
    assert rec.ts == T0 and rec.ts.tzinfo == UTC
    with pytest.raises(ValidationError):
        rec.cost_usd = 1.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(rec)) == rec


def test_record_rejects_naive_times_and_unknown_outcomes() -> None:
    with pytest.raises(ValidationError):
        record("r1", ts=datetime(2026, 3, 1))
    with pytest.raises(ValidationError):
        record("r1", outcome="maybe")


def test_priced_record_carries_cost_and_price_version() -> None:
    usage = Usage(input_tokens=1_000, cached_input_tokens=500, output_tokens=100)
    rec = UsageRecord.priced(
        usage=usage,
        pricing=_Prices(),
        call_id="r1",
        attempt=1,
        tenant="acme",
        agent="bot",
        shortcut=None,
        model="anthropic/claude-sonnet-4-5",
        provider="anthropic",
        latency_ms=12.5,
        outcome="ok",
    )
    # 500 × 3 + 500 × 0.30 + 100 × 15 per million
    assert rec.cost_usd == pytest.approx(0.00315, abs=1e-15)
    assert rec.price_version == price_version(_Prices())
    assert rec.cached_input_tokens == 500
    assert rec.ts.tzinfo == UTC


# --- the store ----------------------------------------------------------------------------------


def test_wal_mode_is_on(tmp_path: Path) -> None:
    store = SQLiteLedgerStore(tmp_path / "ledger.db")
    assert store.journal_mode == "wal"
    other = sqlite3.connect(tmp_path / "ledger.db")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    other.close()
    store.close()


def test_writes_are_idempotent_per_request_and_attempt(tmp_path: Path) -> None:
    store = SQLiteLedgerStore(tmp_path / "ledger.db")
    batch = [record("r1", 1), record("r1", 2), record("r2", 1)]
    assert store.write_batch(batch) == 3
    assert store.write_batch(batch) == 0
    assert store.write_batch([record("r2", 1, cost=99.0), record("r3", 1)]) == 1
    assert store.count() == 4
    assert store.spend()[0].cost_usd == pytest.approx(0.04)  # the resend did not overwrite
    assert store.write_batch([]) == 0
    store.close()


def test_store_reopens_with_its_records(tmp_path: Path) -> None:
    store = SQLiteLedgerStore(tmp_path / "deep" / "ledger.db")
    store.write_batch([record("r1"), record("r2")])
    store.close()
    again = SQLiteLedgerStore(tmp_path / "deep" / "ledger.db")
    assert again.count() == 2
    again.close()


@pytest.fixture
def filled(tmp_path: Path) -> SQLiteLedgerStore:
    store = SQLiteLedgerStore(tmp_path / "ledger.db")
    next_day = T0 + timedelta(hours=1)  # 00:30 UTC on 2026-03-02
    store.write_batch(
        [
            record("a", 1, tenant="acme", agent="bot", cost=0.5, outcome="failed"),
            record(
                "a",
                2,
                tenant="acme",
                agent="bot",
                cost=1.0,
                model="openai/gpt-5",
                provider="openai",
            ),
            record("b", 1, tenant="acme", agent="etl", cost=2.0, shortcut=None, ts=next_day),
            record("c", 1, tenant="globex", agent="bot", cost=4.0, tokens=(1_000, 100)),
            record("d", 1, tenant="globex", agent="bot", cost=0.0, outcome="caller_error"),
        ]
    )
    return store


def test_spend_totals(filled: SQLiteLedgerStore) -> None:
    (total,) = filled.spend()
    assert total.group == {}
    assert (total.requests, total.attempts, total.failed) == (4, 5, 1)
    assert total.cost_usd == pytest.approx(7.5)
    assert (total.input_tokens, total.output_tokens) == (1_400, 140)


def test_spend_by_tenant_costliest_first(filled: SQLiteLedgerStore) -> None:
    rows = filled.spend(["tenant"])
    assert [(r.group["tenant"], r.cost_usd, r.requests) for r in rows] == [
        ("globex", 4.0, 2),
        ("acme", 3.5, 2),
    ]


def test_spend_by_several_keys_and_day(filled: SQLiteLedgerStore) -> None:
    rows = filled.spend(["tenant", "agent", "day"])
    groups = {(r.group["tenant"], r.group["agent"], r.group["day"]): r.cost_usd for r in rows}
    assert groups == {
        ("acme", "bot", "2026-03-01"): 1.5,
        ("acme", "etl", "2026-03-02"): 2.0,
        ("globex", "bot", "2026-03-01"): 4.0,
    }
    by_model = {r.group["model"]: r.attempts for r in filled.spend(["model", "provider"])}
    assert by_model == {"anthropic/claude-sonnet-4-5": 4, "openai/gpt-5": 1}


def test_spend_filters(filled: SQLiteLedgerStore) -> None:
    (acme_bot,) = filled.spend([], {"tenant": "acme", "agent": "bot"})
    assert acme_bot.cost_usd == 1.5 and acme_bot.failed == 1
    (no_shortcut,) = filled.spend(["shortcut"], {"shortcut": None})
    assert no_shortcut.group == {"shortcut": None} and no_shortcut.cost_usd == 2.0
    (march_2,) = filled.spend([], {"since": "2026-03-02", "until": "2026-03-31"})
    assert march_2.cost_usd == 2.0
    (nothing,) = filled.spend([], {"tenant": "nobody"})
    assert (nothing.requests, nothing.cost_usd) == (0, 0.0)
    assert filled.spend(["tenant"], {"tenant": "nobody"}) == []


def test_spend_rejects_unknown_keys(filled: SQLiteLedgerStore) -> None:
    with pytest.raises(ValueError, match="group spend by 'cost_usd'"):
        filled.spend(["cost_usd"])
    with pytest.raises(ValueError, match="filter spend by 'tenant; DROP TABLE usage'"):
        filled.spend([], {"tenant; DROP TABLE usage": "x"})


# --- the actor class ----------------------------------------------------------------------------


def test_cost_ledger_acks_every_key_and_reloads_from_disk(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.db")
    batch = [record("r1", 1), record("r1", 2)]
    assert ledger.write(batch) == [("r1", 1), ("r1", 2)]
    assert ledger.write(batch) == [("r1", 1), ("r1", 2)]  # a resend is acknowledged too
    assert ledger.count() == 2
    assert ledger.ping() == "ok"
    restarted = CostLedger(tmp_path / "ledger.db")  # what a Ray restart does
    assert restarted.count() == 2
    assert restarted.spend(["tenant"])[0].group == {"tenant": "acme"}


def test_cost_ledger_needs_a_place_to_write() -> None:
    with pytest.raises(ValueError):
        CostLedger()
