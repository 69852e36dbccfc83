"""The ledger's own id for each call, and metric labels callers cannot multiply (no Ray)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from deployments.canonical import ChatRequest, Message
from deployments.ledger import SQLiteLedgerStore, UsageRecord
from serve_app.allowances.tenants import Tenants
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from serve_app.routing.metrics import BufferedMeter
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, ScriptedBackends


class StoreLedger:
    """The gateway's ledger writing straight to the real SQLite store (the actor's job)."""

    def __init__(self, store: SQLiteLedgerStore) -> None:
        self.store = store

    def book(self, record: UsageRecord) -> None:
        self.store.write_batch([record])


def call(**options: str) -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content="hi")])
    return ChatCall(name="smart", request=request, options=CallOptions(**options))


async def test_three_calls_reusing_one_request_id_are_booked_three_times(tmp_path: Path) -> None:
    store = SQLiteLedgerStore(tmp_path / "ledger.sqlite")
    gateway = Gateway(mini_directory(), ScriptedBackends(), RecordingHealth(), StoreLedger(store))
    routes = [(await gateway.complete(call(request_id="retry-42"))).route for _ in range(3)]
    assert {route.request_id for route in routes} == {"retry-42"}
    assert len({route.call_id for route in routes}) == 3
    [total] = store.spend()
    assert (total.requests, total.attempts) == (3, 3)
    store.close()
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        rows = db.execute("SELECT call_id, request_id FROM usage ORDER BY ts").fetchall()
    assert rows == [(route.call_id, "retry-42") for route in routes]


def series_tags(meter: BufferedMeter, metric: str) -> set[tuple[str, str]]:
    """The (tenant, agent) label values of every series of `metric`."""
    tagged = [dict(tags) for name, tags in meter.counters if name == metric]
    return {(tags["tenant"], tags["agent"]) for tags in tagged}


async def test_only_configured_tenants_and_agents_get_label_values_of_their_own() -> None:
    meter = BufferedMeter()
    ledger = RecordingLedgerOfNames()
    gateway = Gateway(mini_directory(), ScriptedBackends(), RecordingHealth(), ledger, meter=meter)
    tenants = Tenants.model_validate({"acme": {"agents": {"summariser": {}}}})
    gateway.use_directory(mini_directory(), tenants)
    for tenant, agent in [
        ("acme", "summariser"),
        ("acme", "made-up-1"),
        ("nobody-1", "x"),
        ("nobody-2", "summariser"),
        ("default", "default"),
    ]:
        await gateway.complete(call(tenant=tenant, agent=agent))
    assert series_tags(meter, "switchyard_attempts") == {
        ("acme", "summariser"),
        ("acme", "other"),
        ("other", "other"),
        ("default", "default"),
    }
    assert series_tags(meter, "switchyard_requests") == series_tags(meter, "switchyard_attempts")
    # The ledger keeps what the caller said.
    assert [n for n in ledger.names if n[0].startswith("nobody")] == [
        ("nobody-1", "x"),
        ("nobody-2", "summariser"),
    ]


class RecordingLedgerOfNames:
    def __init__(self) -> None:
        self.names: list[tuple[str, str]] = []

    def book(self, record: UsageRecord) -> None:
        self.names.append((record.tenant, record.agent))
