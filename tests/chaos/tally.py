"""Ledger truth for one scenario: its calls as their callers saw them against the rows in SQLite.

The ledger file is read directly (read-only), not through `/v1/spend`, so that a scenario that
breaks the Ingress or the CostLedger cannot also break the count. Records reach the file in
batches from each replica's outbox, and those of a killed replica only when the next replica on
the node replays its journal (deployments/ledger/journal.py, every `replay_every_s`), so the tally
waits until every answered call has its record or a deadline passes.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.chaos.load import CallOutcome, Seen

OK = "ok"


@dataclass(frozen=True)
class Row:
    call_id: str
    attempt: int
    tenant: str
    outcome: str
    cost_usd: float


def read_rows(ledger_path: Path, tenants: Sequence[str]) -> list[Row]:
    marks = ", ".join("?" for _ in tenants)
    uri = f"{ledger_path.resolve().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=30) as db:
        found = db.execute(
            "SELECT call_id, attempt, tenant, outcome, cost_usd FROM usage "
            f"WHERE tenant IN ({marks})",
            list(tenants),
        ).fetchall()
    return [Row(*row) for row in found]


def answered_ids(outcomes: Sequence[CallOutcome]) -> set[str]:
    return {o.call_id for o in outcomes if o.seen is Seen.ANSWERED and o.call_id}


def unbooked(outcomes: Sequence[CallOutcome], rows: Sequence[Row]) -> set[str]:
    """Answered calls with no `ok` record: an answer someone got that no one will pay for."""
    booked = {row.call_id for row in rows if row.outcome == OK}
    return answered_ids(outcomes) - booked


def wait_for_records(
    ledger_path: Path, tenants: Sequence[str], outcomes: Sequence[CallOutcome], timeout_s: float
) -> list[Row]:
    deadline = time.monotonic() + timeout_s
    rows = read_rows(ledger_path, tenants)
    while unbooked(outcomes, rows) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = read_rows(ledger_path, tenants)
    return rows


@dataclass(frozen=True)
class Tally:
    scenario: str
    calls: int
    answered: int
    clear_errors: int
    lost: int
    answered_without_record: int  # must be 0
    counted_twice: int  # must be 0
    silent_stream_ends: int  # must be 0
    answered_without_call_id: int  # must be 0: an answer the ledger cannot be checked against
    budget_usd: float
    budget_spent_usd: float
    overshoot_usd: float
    overshoot_bound_usd: float
    errors: dict[str, int]  # what the clear errors and lost calls were, by status/type

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def overshoot_within_bound(self) -> bool:
        return self.overshoot_usd <= self.overshoot_bound_usd + 1e-12


def tally(
    scenario: str,
    outcomes: Sequence[CallOutcome],
    rows: Sequence[Row],
    *,
    budget_tenant: str,
    budget_usd: float,
    reservation_usd: float,
) -> Tally:
    """`reservation_usd`: what one budgeted call reserves (its estimate at the chain's costliest
    model). A budget is overrun only by calls that cost more than they reserved (book.py), so the
    documented bound is the sum of those excesses over the budget tenant's records."""
    seen = Counter(o.seen for o in outcomes)
    ok_per_call = Counter(row.call_id for row in rows if row.outcome == OK)
    keys = Counter((row.call_id, row.attempt) for row in rows)
    twice = sum(1 for n in ok_per_call.values() if n > 1) + sum(n - 1 for n in keys.values())
    budget_rows = [row for row in rows if row.tenant == budget_tenant]
    spent = sum(row.cost_usd for row in budget_rows)
    bound = sum(max(0.0, row.cost_usd - reservation_usd) for row in budget_rows)
    return Tally(
        scenario=scenario,
        calls=len(outcomes),
        answered=seen[Seen.ANSWERED],
        clear_errors=seen[Seen.CLEAR_ERROR],
        lost=seen[Seen.LOST],
        answered_without_record=len(unbooked(outcomes, rows)),
        counted_twice=twice,
        silent_stream_ends=seen[Seen.SILENT_END],
        answered_without_call_id=sum(
            1 for o in outcomes if o.seen is Seen.ANSWERED and not o.call_id
        ),
        budget_usd=budget_usd,
        budget_spent_usd=spent,
        overshoot_usd=max(0.0, spent - budget_usd),
        overshoot_bound_usd=bound,
        errors=dict(Counter(o.detail for o in outcomes if o.seen is not Seen.ANSWERED)),
    )
