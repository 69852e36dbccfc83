"""Free tiers, budgets, exact costs and metrics through the gateway, without Ray.

The replicas' leases come from a real `Allowances` book held in-process; `sync` stands for the
background round a replica runs with the actor, and is called where a test wants it to have run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from deployments.canonical import ChatRequest, ChatResult, Message
from deployments.errors import AllCandidatesFailed, BudgetExceeded, RateLimited
from directory.schema import Directory
from serve_app.allowances.actor import Allowances
from serve_app.allowances.calls import ReplicaAllowances
from serve_app.allowances.messages import LeaseGrant, LeaseReport
from serve_app.allowances.replica import LeaseClient
from serve_app.allowances.tenants import Tenants
from serve_app.routing.call import CallOptions, ChatCall, Route
from serve_app.routing.gateway import Gateway
from serve_app.routing.metrics import BufferedMeter
from serve_app.routing.plan import Candidate
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends, server_error


class Replica:
    """A gateway with its own leases of the shared book, as one Ingress replica has."""

    def __init__(
        self,
        allowances: Allowances,
        tenants: dict[str, Any] | None = None,
        backends: ScriptedBackends | None = None,
        name: str = "replica-1",
        health: RecordingHealth | None = None,
        directory: Directory | None = None,
    ) -> None:
        async def sync(replica: str, reports: list[LeaseReport]) -> list[LeaseGrant]:
            return allowances.sync(replica, reports)

        self.allowances = allowances
        self.leases = LeaseClient(name, sync)
        self.backends = backends or ScriptedBackends()
        self.ledger = RecordingLedger()
        self.meter = BufferedMeter()
        self.gateway = Gateway(
            directory or mini_directory(),
            self.backends,
            health or RecordingHealth(),
            self.ledger,
            allowances=ReplicaAllowances(self.leases),
            meter=self.meter,
        )
        self.gateway.use_directory(self.gateway.directory, Tenants.model_validate(tenants or {}))

    async def sync(self) -> None:
        await self.leases.sync_once()

    async def call(self, name: str, **options: Any) -> tuple[Route, str]:
        max_tokens = options.pop("max_tokens", 100)
        request = ChatRequest(
            model="", messages=[Message(role="user", content="hi there")], max_tokens=max_tokens
        )
        c = ChatCall(name=name, request=request, options=CallOptions(**options))
        answer = await self.gateway.complete(c)
        return answer.route, answer.result.text


# At $1 in / $4 out per Mtok: 6 prompt tokens (estimated) + 100 max_tokens ≈ $0.000406 reserved;
# the scripted answer (10 in, 3 out) costs $0.000022.
ESTIMATE = (6 * 1 + 100 * 4) / 1e6
ACTUAL = (10 * 1 + 3 * 4) / 1e6


def local_down() -> RecordingHealth:
    """The chains end at a local model, which costs no cash and so takes any call a budget
    refuses; these tests are about the calls that cost."""
    return RecordingHealth(down={"local"})


async def test_free_tier_calls_are_free_until_used_up_then_the_paid_twin_serves() -> None:
    replica = Replica(Allowances())
    await replica.sync()
    served = []
    for _ in range(3):
        route, _text = await replica.call("free")
        served.append((route.model, route.cost_usd))
    assert served[:2] == [("alpha/free", 0.0), ("alpha/free", 0.0)]
    assert served[2][0] == "alpha/a1" and served[2][1] == pytest.approx(ACTUAL)
    assert [(r.model, r.cost_usd) for r in replica.ledger.records] == [
        ("alpha/free", 0.0),
        ("alpha/free", 0.0),
        ("alpha/a1", pytest.approx(ACTUAL)),
    ]
    await replica.sync()
    route, _ = await replica.call("free")
    assert route.skipped[0].model == "alpha/free"
    assert "free tier used up" in route.skipped[0].reason


async def test_a_quota_exhausted_429_switches_to_the_paid_twin_at_once() -> None:
    quota = RateLimited("quota spent", provider="alpha", quota_exhausted=True)
    replica = Replica(Allowances(), backends=ScriptedBackends(failures={"alpha/free": [quota]}))
    await replica.sync()
    first, _ = await replica.call("free")
    assert [a.model for a in first.attempts] == ["alpha/free", "beta/b1"]
    # No round with the actor in between: this replica knows at once.
    second, _ = await replica.call("free")
    assert second.model == "alpha/a1"
    assert [a.model for a in second.attempts] == ["alpha/a1"]
    assert replica.backends.calls.count(("alpha/free", "free")) == 1
    # The actor hears of it on the replica's next round, and tells the other replicas.
    await replica.sync()
    [status] = [s for s in replica.allowances.status() if s.spec.model == "alpha/free"]
    assert status.exhausted_until is not None and status.remaining == 0
    assert status.used == 0  # the refused attempt did not count as a free call


async def test_fifty_concurrent_calls_cannot_overspend_a_budget() -> None:
    allowances = Allowances()
    budget = 10.5 * ESTIMATE  # affords ten calls at their estimate
    backends = ScriptedBackends()
    gate = asyncio.Event()
    original = backends.complete

    async def held(candidate: Any, request: ChatRequest) -> Any:
        await gate.wait()  # every call reserves before any finishes
        return await original(candidate, request)

    backends.complete = held  # type: ignore[method-assign]
    tenants = {"acme": {"budget": {"day_usd": budget}}}
    replicas = [Replica(allowances, tenants, backends, f"r{i}", local_down()) for i in range(2)]
    for _ in range(3):
        for replica in replicas:
            await replica.sync()

    async def one(index: int) -> str:
        try:
            await replicas[index % 2].call("smart", tenant="acme")
        except BudgetExceeded as error:
            return str(error)
        return "ok"

    tasks = [asyncio.create_task(one(i)) for i in range(50)]
    for _ in range(200):  # until every call has either reserved (and waits) or been refused
        await asyncio.sleep(0.01)
        if sum(not t.done() for t in tasks) <= 10:
            break
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert 1 <= outcomes.count("ok") <= 10
    refusals = [o for o in outcomes if o != "ok"]
    assert len(refusals) == 50 - outcomes.count("ok")
    assert all(f"day limit ${budget:.4f}" in o for o in refusals)


async def test_a_budget_is_settled_with_the_real_cost_and_released_on_failure() -> None:
    failing = ScriptedBackends(
        failures={m: [server_error(m.split("/")[0])] for m in ("alpha/a1", "beta/b1", "local/l1")}
    )
    replica = Replica(Allowances(), {"acme": {"budget": {"day_usd": 1.0}}}, failing)
    await replica.sync()
    with pytest.raises(AllCandidatesFailed):
        await replica.call("smart", tenant="acme")
    await replica.call("smart", tenant="acme")
    standing = replica.leases.standing("budget:acme:day")
    assert standing is not None
    await replica.sync()
    standing = replica.leases.standing("budget:acme:day")
    assert standing is not None and standing.used == pytest.approx(ACTUAL)


async def test_an_exhausted_budget_is_a_402_naming_the_budget_and_spend() -> None:
    tenants = {"acme": {"budget": {"day_usd": ESTIMATE * 1.5}}}
    replica = Replica(Allowances(), tenants, health=local_down())
    await replica.sync()
    await replica.call("smart", tenant="acme")
    await replica.sync()
    with pytest.raises(BudgetExceeded) as caught:
        await replica.call("smart", tenant="acme", max_tokens=1000)
    error = caught.value
    assert error.http_status == 402
    assert (error.scope, error.period) == ("tenant acme", "day")
    assert error.limit_usd == pytest.approx(ESTIMATE * 1.5)
    assert "budget exceeded for tenant acme" in str(error)
    # Other tenants are not limited.
    route, _ = await replica.call("smart", tenant="globex", max_tokens=1000)
    assert route.model == "alpha/a1"


async def test_an_agent_budget_binds_before_its_tenants() -> None:
    tenants = {"acme": {"budget": {"day_usd": 1.0}, "agents": {"bot": {"day_usd": ESTIMATE / 2}}}}
    replica = Replica(Allowances(), tenants, health=local_down())
    await replica.sync()
    with pytest.raises(BudgetExceeded) as caught:
        await replica.call("smart", tenant="acme", agent="bot")
    assert caught.value.scope == "agent acme/bot"
    route, _ = await replica.call("smart", tenant="acme", agent="writer")
    assert route.model == "alpha/a1"


async def test_an_exhausted_budget_downgrades_when_the_tenant_says_so() -> None:
    tenants = {
        "acme": {"budget": {"day_usd": ESTIMATE / 2}, "on_exhausted": {"downgrade_to": "free"}}
    }
    replica = Replica(Allowances(), tenants, health=local_down())
    await replica.sync()
    route, _ = await replica.call("smart", tenant="acme")
    assert route.downgraded_from == "smart"
    assert route.shortcut == "free" and route.model == "alpha/free"
    assert any(s.reason.startswith("budget: tenant acme day") for s in route.skipped)
    assert replica.ledger.records[-1].shortcut == "free"


async def test_streamed_and_whole_answers_book_the_same_exact_cost() -> None:
    replica = Replica(Allowances())
    request = ChatRequest(model="", messages=[Message(role="user", content="hi")])
    streamed = ChatCall(name="smart", request=request)
    answer = replica.gateway.stream(streamed)
    chunks = [chunk async for chunk in answer]
    assert chunks[-1].usage is not None
    whole, _ = await replica.call("smart")
    stream_record, whole_record = replica.ledger.records
    assert stream_record.cost_usd == whole_record.cost_usd == pytest.approx(ACTUAL)
    assert answer.route.cost_usd == whole.cost_usd


async def test_a_local_model_books_its_gpu_time_apart_from_cash() -> None:
    replica = Replica(Allowances())
    route, _ = await replica.call("private")
    [record] = replica.ledger.records
    assert record.model == "local/l1" and record.cost_usd == 0.0
    # $2/GPU-hour; 100 tok/s per stream × 4 streams per replica; 3 output tokens.
    assert record.gpu_cost_usd == pytest.approx(2.0 * 3 / (3600 * 100 * 4))
    assert route.gpu_cost_usd == record.gpu_cost_usd


async def test_metrics_carry_the_ledgers_numbers_and_the_failovers() -> None:
    backends = ScriptedBackends(failures={"alpha/a1": [server_error("alpha")]})
    # A configured tenant and agent: their own label values (the rest are "other").
    replica = Replica(Allowances(), {"acme": {"agents": {"bot": {}}}}, backends=backends)
    await replica.call("smart", tenant="acme", agent="bot")
    await replica.call("smart", tenant="acme", agent="bot")
    counters, samples = replica.meter.drain()

    def total(name: str) -> float:
        return sum(value for (metric, _), value in counters.items() if metric == name)

    assert total("switchyard_cost_usd") == pytest.approx(
        sum(r.cost_usd for r in replica.ledger.records)
    )
    assert total("switchyard_output_tokens") == sum(r.output_tokens for r in replica.ledger.records)
    assert total("switchyard_requests") == 2
    [(failover_tags, count)] = [
        (dict(tags), value)
        for (metric, tags), value in counters.items()
        if metric == "switchyard_failovers"
    ]
    assert count == 1
    assert failover_tags["from_model"] == "alpha/a1" and failover_tags["to_model"] == "beta/b1"
    assert failover_tags["reason"] == "ProviderServerError"
    latencies = [s for s in samples if s[0] == "switchyard_request_latency_seconds"]
    assert len(latencies) == 2 and dict(latencies[0][1])["tenant"] == "acme"


async def test_an_abandoned_stream_settles_at_its_estimate_and_counts_as_cancelled() -> None:
    replica = Replica(Allowances(), {"acme": {"budget": {"day_usd": 1.0}}}, health=local_down())
    await replica.sync()
    before = replica.leases.available("budget:acme:day")
    request = ChatRequest(
        model="", messages=[Message(role="user", content="hi there")], max_tokens=100
    )
    call = ChatCall(name="smart", request=request, options=CallOptions(tenant="acme"))
    chunks = replica.gateway.stream(call)
    first = await anext(chunks)
    assert first.text
    assert replica.leases.available("budget:acme:day") == pytest.approx(before - ESTIMATE)
    await chunks.aclose()  # the caller went away after the first chunk

    # Hanging up frees no budget: what the attempt used is settled, estimated (6 prompt
    # tokens, 1 output token for "hello "), the rest of the reservation comes back.
    [record] = replica.ledger.records
    assert record.estimated and record.cost_usd == pytest.approx((6 * 1 + 1 * 4) / 1e6)
    assert replica.leases.available("budget:acme:day") == pytest.approx(before - record.cost_usd)
    counters, _ = replica.meter.drain()
    outcomes = {
        dict(tags)["outcome"]: value
        for (metric, tags), value in counters.items()
        if metric == "switchyard_requests"
    }
    assert outcomes == {"cancelled": 1}


class GatedBackends(ScriptedBackends):
    """Its first answer from `model` waits until `gate` is set: a call in flight. Later calls to
    `model` are answered at once."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self._model = model

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        if candidate.model.id == self._model and not self.entered.is_set():
            self.entered.set()
            await self.gate.wait()
        return await super().complete(candidate, request)


async def test_a_free_tier_backup_never_tried_reserves_nothing() -> None:
    """While a call is in flight on its primary, the free tier that is only its backup is left
    whole for a call whose model it is."""
    directory = mini_directory(
        **{
            "alpha/a1": {"backup": "alpha/free"},
            "alpha/free": {"free_tier": {"requests_per_day": 1, "paid_twin": "alpha/a1"}},
        }
    )
    backends = GatedBackends("alpha/a1")
    replica = Replica(Allowances(), backends=backends, directory=directory)
    await replica.sync()
    in_flight = asyncio.create_task(replica.call("smart"))  # alpha/a1, backup alpha/free
    await backends.entered.wait()
    route, _ = await replica.call("free")
    assert (route.model, route.cost_usd) == ("alpha/free", 0.0)
    backends.gate.set()
    first, _ = await in_flight
    assert first.model == "alpha/a1"
