"""Allowances on the running app: a budget under fifty concurrent calls, a free tier running out,
a provider saying the quota is spent, and the metrics Prometheus would scrape (design §4, §6)."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import time
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serve_app.allowances.calls import CallAllowances
from tests.integration.conftest import (
    BUDGET_SHORTCUT,
    BUDGET_TENANT,
    FREE_TIER_MODEL,
    FREE_TIER_REQUESTS,
    METRICS_TENANT,
    Switchyard,
    budget_for_ten,
    budget_request,
)

pytestmark = pytest.mark.ray


def chat_body(model: str, tenant: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "switchyard": {"tenant": tenant, "agent": "allowances-test"},
        **extra,
    }


def post(switchyard: Switchyard, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json=body,
        headers=switchyard.admin_headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def spend(switchyard: Switchyard, **params: str) -> dict[str, Any]:
    response = httpx.get(
        f"{switchyard.url}/v1/spend", params=params, headers=switchyard.admin_headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def ledger_rows(switchyard: Switchyard, tenant: str) -> list[sqlite3.Row]:
    with sqlite3.connect(switchyard.ledger_path) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM usage WHERE tenant = ? ORDER BY ts", (tenant,)).fetchall()


def eventually(check: Any, timeout_s: float = 60, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (the app's background rounds catch up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def allowance(switchyard: Switchyard, key: str) -> dict[str, Any]:
    body = spend(switchyard)
    [row] = [a for a in body["free_tiers"] + body["budgets"] if a["key"] == key]
    return dict(row)


# --- budgets -----------------------------------------------------------------------------------


def test_fifty_concurrent_calls_against_a_budget_for_ten(sandbox_reset: Switchyard) -> None:
    switchyard = sandbox_reset
    budget = budget_for_ten(switchyard.directory)
    chain = switchyard.directory.chain(BUDGET_SHORTCUT)
    allowances = CallAllowances(None, switchyard.directory, budget_request(), None, ())
    one_estimate = max(allowances.estimate_usd(model) for model in chain)
    # Held at the provider, so that every call has reserved (or been refused) before any settles.
    for model in chain:
        switchyard.script(model.id, latency_ms=4_000)
    request = budget_request()
    body = chat_body(
        BUDGET_SHORTCUT, BUDGET_TENANT, request.messages[0].text(), max_tokens=request.max_tokens
    )

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, headers=switchyard.admin_headers) as client:
            url = f"{switchyard.url}/v1/chat/completions"
            return await asyncio.gather(*(client.post(url, json=body) for _ in range(50)))

    responses = asyncio.run(burst())
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 402]
    assert len(served) + len(refused) == 50, [r.text[:200] for r in responses]
    assert 1 <= len(served) <= 11
    message = refused[0].json()["error"]["message"]
    assert f"budget exceeded for tenant {BUDGET_TENANT}" in message
    assert f"day limit ${budget:.4f}" in message

    # What the ledger holds overspends the budget by no more than one call's estimate.
    rows = eventually(
        lambda: (r := ledger_rows(switchyard, BUDGET_TENANT)) and len(r) >= len(served) and r,
        what="the budgeted calls in the ledger",
    )
    spent = sum(row["cost_usd"] for row in rows)
    assert 0 < spent <= budget + one_estimate
    # And the budget's standing in /v1/spend comes to the same, once the replicas reported.
    key = f"budget:{BUDGET_TENANT}:day"
    eventually(
        lambda: abs(allowance(switchyard, key)["used"] - spent) < 1e-12,
        what="the budget's spend in /v1/spend",
    )
    assert allowance(switchyard, key)["limit"] == pytest.approx(budget)


# --- free tiers --------------------------------------------------------------------------------


def test_a_free_tier_serves_its_calls_free_then_the_paid_twin_takes_over(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    twin = switchyard.directory.models[FREE_TIER_MODEL].free_tier
    assert twin is not None
    key = f"free_requests:{FREE_TIER_MODEL}"
    tenant = f"free-{uuid.uuid4().hex[:6]}"
    served: list[dict[str, Any]] = []
    # Sequential calls until the free tier is used up cluster-wide. A call that finds its
    # replica's lease empty while the other replica still holds some goes to the paid twin and
    # moves the lease over: the free calls never exceed the tier, and none of it is lost.
    for _ in range(FREE_TIER_REQUESTS + 20):
        served.append(post(switchyard, chat_body("free", tenant))["switchyard"])
        if allowance(switchyard, key)["remaining"] == 0:
            break
    last = post(switchyard, chat_body("free", tenant))["switchyard"]

    free = [route for route in served if route["model"] == FREE_TIER_MODEL]
    assert len(free) == FREE_TIER_REQUESTS
    assert served[0]["model"] == FREE_TIER_MODEL  # the first call of the day is free
    assert all(route["cost_usd"] == 0 for route in free)
    paid = [route for route in [*served, last] if route["model"] != FREE_TIER_MODEL]
    assert all(route["model"] == twin.paid_twin and route["cost_usd"] > 0 for route in paid)
    assert last["model"] == twin.paid_twin
    assert last["skipped"][0] == {
        "model": FREE_TIER_MODEL,
        "reason": f"free tier used up; paid twin {twin.paid_twin}",
    }
    # The ledger books the free calls at $0 under the free model.
    rows = eventually(
        lambda: (r := ledger_rows(switchyard, tenant)) and len(r) == len(served) + 1 and r,
        what="the free-tier calls in the ledger",
    )
    assert sorted({(row["model"], row["cost_usd"] == 0) for row in rows}) == sorted(
        {(FREE_TIER_MODEL, True), (twin.paid_twin, False)}
    )
    status = allowance(switchyard, key)
    assert (status["used"], status["limit"], status["remaining"]) == (3, 3, 0)


def test_a_quota_exhausted_429_switches_to_the_paid_twin_at_once(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    free_model = "google/gemini-2.5-flash-lite-free"
    tier = switchyard.directory.models[free_model].free_tier
    assert tier is not None
    tenant = f"quota-{uuid.uuid4().hex[:6]}"
    # The provider says the free quota is spent (the paid twin shares the provider's model name;
    # the fault applies to one request, the free model's attempt).
    switchyard.script(free_model, fault="quota_exhausted", times=1)
    first = post(switchyard, chat_body(free_model, tenant))["switchyard"]
    answered_at = time.time()
    assert [(a["model"], a["status"]) for a in first["attempts"]] == [
        (free_model, 429),
        (tier.paid_twin, None),
    ]
    assert first["attempts"][0]["error_kind"] == "RateLimited"
    # The replica that saw it knows at once; the other hears it from the actor on its next round.
    key = f"free_requests:{free_model}"
    eventually(
        lambda: (
            (row := allowance(switchyard, key))["exhausted_until"]
            and sum(r["last_seen"] > answered_at for r in row["replicas"]) >= 2
        ),
        what="every replica to hear the quota is spent",
    )
    status = allowance(switchyard, key)
    assert status["remaining"] == 0 and status["used"] == 0
    assert status["exhausted_until"] >= status["window_end"] - 1  # until the Pacific midnight
    for _ in range(6):
        route = post(switchyard, chat_body(free_model, tenant))["switchyard"]
        assert [a["model"] for a in route["attempts"]] == [tier.paid_twin]
        assert route["skipped"][0]["reason"] == f"free tier used up; paid twin {tier.paid_twin}"


# --- metrics -----------------------------------------------------------------------------------


def scrape() -> dict[str, list[Any]]:
    """Every sample Ray's metrics agent exports on this (the only) node, by sample name."""
    import ray

    [node] = [n for n in ray.nodes() if n["Alive"]]
    text = httpx.get(f"http://127.0.0.1:{node['MetricsExportPort']}/metrics", timeout=30).text
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(key) == value for key, value in labels.items())
    )


def test_metrics_scraped_from_the_app_carry_what_the_ledger_holds(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    tenant = METRICS_TENANT  # a listed tenant: an unlisted one is labelled `other`
    primary, backup, _ = switchyard.directory.chain("smart")
    switchyard.script(primary.id, fault="http_500", times=1)
    post(switchyard, chat_body("smart", tenant))  # fails over once
    post(switchyard, chat_body("fast", tenant))
    streamed = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json=chat_body("fast", tenant, stream=True, stream_options={"include_usage": True}),
        headers=switchyard.admin_headers,
        timeout=60,
    )
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    rows = eventually(
        lambda: (r := ledger_rows(switchyard, tenant)) and len(r) == 4 and r,
        what="four attempts in the ledger",
    )
    cost = sum(row["cost_usd"] for row in rows)
    tokens_in = sum(row["input_tokens"] for row in rows)
    tokens_out = sum(row["output_tokens"] for row in rows)

    def caught_up() -> dict[str, list[Any]] | None:
        samples = scrape()
        done = total(samples, "ray_switchyard_requests_total", tenant=tenant) == 3
        done = done and total(samples, "ray_switchyard_attempts_total", tenant=tenant) == 4
        return samples if done else None

    samples = eventually(caught_up, timeout_s=90, what="the metrics to be exported")
    assert total(samples, "ray_switchyard_cost_usd_total", tenant=tenant) == pytest.approx(
        cost, rel=1e-9
    )
    assert total(samples, "ray_switchyard_input_tokens_total", tenant=tenant) == tokens_in
    assert total(samples, "ray_switchyard_output_tokens_total", tenant=tenant) == tokens_out
    assert (
        total(
            samples,
            "ray_switchyard_failovers_total",
            tenant=tenant,
            from_model=primary.id,
            to_model=backup.id,
            reason="ProviderServerError",
        )
        == 1
    )
    assert total(samples, "ray_switchyard_request_latency_seconds_count", tenant=tenant) == 3
    assert total(samples, "ray_switchyard_ttft_seconds_count", tenant=tenant) == 1
    assert total(samples, "ray_switchyard_gateway_overhead_seconds_count", tenant=tenant) == 3
    assert total(samples, "ray_switchyard_requests_total", tenant=tenant, outcome="ok") == 3
    # Cluster-wide gauges: breakers per provider (each replica's view), what free tiers have left.
    assert {s.labels["provider"] for s in samples["ray_switchyard_breaker_state"]} >= {"openai"}
    remaining = {
        s.labels["model"]: s.value for s in samples.get("ray_switchyard_free_tier_remaining", [])
    }
    assert FREE_TIER_MODEL in remaining


def test_switchyard_spend_reads_the_running_app(
    switchyard: Switchyard, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serve_app.cli import main

    monkeypatch.setenv("SWITCHYARD_API_KEY", switchyard.admin_key)

    tenant = f"cli-{uuid.uuid4().hex[:6]}"
    answers = [post(switchyard, chat_body("fast", tenant))["switchyard"] for _ in range(2)]
    eventually(lambda: len(ledger_rows(switchyard, tenant)) == 2, what="two calls in the ledger")
    assert (
        main(
            ["spend", "--url", switchyard.url, "--by", "tenant,model", "--tenant", tenant, "--csv"]
        )
        == 0
    )
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["tenant"], row["model"], row["requests"]) == (tenant, answers[0]["model"], "2")
    assert float(row["cost_usd"]) == pytest.approx(sum(a["cost_usd"] for a in answers), rel=1e-9)
    # The table adds what the free tiers have left.
    assert main(["spend", "--url", switchyard.url, "--tenant", tenant]) == 0
    table = capsys.readouterr().out
    assert "free tiers (this window):" in table and FREE_TIER_MODEL in table
