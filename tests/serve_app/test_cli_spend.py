"""`switchyard spend` on a ledger file: tables, CSV, free tiers and budgets left (no Ray)."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.ledger import SQLiteLedgerStore, UsageRecord
from serve_app.allowances.actor import Allowances
from serve_app.allowances.messages import AllowanceSpec, LeaseReport
from serve_app.allowances.windows import window_at
from serve_app.cli import main


def record(
    request_id: str, tenant: str, agent: str, model: str, cost: float, day: int
) -> UsageRecord:
    return UsageRecord(
        call_id=request_id,
        attempt=1,
        ts=datetime(2026, 11, day, 12, tzinfo=UTC),
        tenant=tenant,
        agent=agent,
        model=model,
        provider=model.split("/")[0],
        input_tokens=100,
        output_tokens=10,
        cost_usd=cost,
        gpu_cost_usd=0.001 if model.startswith("local/") else 0.0,
        price_version="v",
        latency_ms=5,
        outcome="ok",
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    store = SQLiteLedgerStore(path)
    store.write_batch(
        [
            record("a1", "acme", "planner", "anthropic/opus", 0.30, 24),
            record("a2", "acme", "planner", "anthropic/opus", 0.20, 25),
            record("a3", "acme", "support", "local/qwen", 0.0, 25),
            record("g1", "globex", "triage", "groq/oss", 0.01, 25),
        ]
    )
    store.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["spend", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_spend_by_tenant_is_a_table_costliest_first_with_a_total(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "--ledger", str(ledger))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["TENANT", "REQUESTS"]
    assert lines[1].split()[:2] == ["acme", "3"] and "0.500000" in lines[1]
    assert lines[2].split()[:2] == ["globex", "1"]
    assert lines[3].startswith("TOTAL") and "0.510000" in lines[3]


def test_spend_as_csv_by_agent_and_day_with_filters(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "--ledger", str(ledger), "--by", "agent,day", "--tenant", "acme", "--csv"
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    by_key = {(r["agent"], r["day"]): r for r in rows}
    assert set(by_key) == {
        ("planner", "2026-11-24"),
        ("planner", "2026-11-25"),
        ("support", "2026-11-25"),
    }
    assert float(by_key[("planner", "2026-11-24")]["cost_usd"]) == pytest.approx(0.30)
    assert float(by_key[("support", "2026-11-25")]["gpu_cost_usd"]) == pytest.approx(0.001)


def test_spend_shows_what_free_tiers_and_budgets_have_left(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    free = AllowanceSpec(
        "free_requests:g/free", "free_requests", "utc-midnight", 20, model="g/free"
    )
    budget = AllowanceSpec("budget:initech:day", "budget", "day", 5.0, tenant="initech")
    reports = [
        LeaseReport(spec, w.key, w.start, w.end, consumed=consumed, returned=0)
        for spec, consumed in ((free, 3), (budget, 1.25))
        for w in [window_at(spec.reset, now)]
    ]
    Allowances(ledger).sync("ingress-1", reports)
    status, out, _ = run(capsys, "--ledger", str(ledger), "--by", "model")
    assert status == 0
    free_line = next(line for line in out.splitlines() if line.startswith("g/free"))
    assert free_line.split()[1:2] == ["requests"] and free_line.split()[4:7] == ["3", "20", "17"]
    budget_line = next(line for line in out.splitlines() if line.startswith("initech "))
    assert budget_line.split()[4:7] == ["1.250000", "5.000000", "3.750000"]


def test_an_unknown_group_or_a_missing_ledger_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "--ledger", str(tmp_path / "nope.sqlite"))
    assert status == 1 and "no ledger at" in err
    assert not (tmp_path / "nope.sqlite").exists()
    status, _, err = run(capsys, "--ledger", str(tmp_path / "nope.sqlite"), "--by", "colour")
    assert status == 2 and "colour" in err


def test_spend_shows_how_many_attempts_were_booked_from_an_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ledger.sqlite"
    store = SQLiteLedgerStore(path)
    dropped = record("d1", "acme", "planner", "anthropic/opus", 0.01, 25)
    store.write_batch([dropped.model_copy(update={"estimated": True, "outcome": "interrupted"})])
    store.close()
    status, out, _ = run(capsys, "--ledger", str(path))
    assert status == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:5] == ["TENANT", "REQUESTS", "ATTEMPTS", "FAILED", "ESTIMATED"]
    assert row.split()[:5] == ["acme", "1", "1", "1", "1"]
    status, out, _ = run(capsys, "--ledger", str(path), "--csv")
    [line] = list(csv.DictReader(io.StringIO(out)))
    assert line["estimated"] == "1"
