"""The cost ledger (design §6).

- `cost_usd(usage, pricing)`, `price_version(pricing)`: an attempt's cost by the vendor's formula.
- `UsageRecord`: one per attempt, key (call_id, attempt); `UsageRecord.priced(...)` costs it.
- `LedgerStore` / `SQLiteLedgerStore`: where records live; SQLite (WAL) is the embedded default.
- `CostLedger`: owns the store; one named, self-restarting Ray actor, created by the first
  Ingress replica's `ReplicaRuntime`.
- `LedgerClient`: inside each Ingress replica. `book(record)` after every attempt (synchronous,
  never waits); `start()` runs the background sender; `aclose()` at shutdown sends what is left.
"""

from deployments.ledger.actor import CostLedger
from deployments.ledger.client import LedgerClient
from deployments.ledger.cost import Prices, cost_decimal, cost_usd, price_version, rates_for
from deployments.ledger.records import RecordOutcome, UsageRecord
from deployments.ledger.store import (
    FILTER_KEYS,
    GROUP_KEYS,
    LedgerStore,
    SpendRow,
    SQLiteLedgerStore,
)

__all__ = [
    "FILTER_KEYS",
    "GROUP_KEYS",
    "CostLedger",
    "LedgerClient",
    "LedgerStore",
    "Prices",
    "RecordOutcome",
    "SQLiteLedgerStore",
    "SpendRow",
    "UsageRecord",
    "cost_decimal",
    "cost_usd",
    "price_version",
    "rates_for",
]
