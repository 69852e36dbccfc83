"""Every attempt is booked in SQLite, with the right cost, even across a ledger crash (§6)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import httpx
import pytest
import ray

from deployments.canonical import Usage
from deployments.ledger.cost import cost_usd
from serve_app.app.runtime import LEDGER_ACTOR
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray


def ledger_rows(switchyard: Switchyard, tenant: str) -> list[sqlite3.Row]:
    with sqlite3.connect(switchyard.ledger_path) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM usage WHERE tenant = ?", (tenant,)).fetchall()


def wait_for_rows(switchyard: Switchyard, tenant: str, count: int) -> list[sqlite3.Row]:
    deadline = time.monotonic() + 60
    rows = ledger_rows(switchyard, tenant)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = ledger_rows(switchyard, tenant)
    return rows


async def send(
    client: httpx.AsyncClient, switchyard: Switchyard, tenant: str, agent: str, model: str
) -> dict[str, object]:
    response = await client.post(
        f"{switchyard.url}/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": f"request for {agent}"}],
            "switchyard": {"tenant": tenant, "agent": agent},
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_each_attempt_is_booked_with_the_directory_price(sandbox_reset: Switchyard) -> None:
    tenant = f"priced-{uuid.uuid4().hex[:6]}"
    primary, backup, _ = sandbox_reset.directory.chain("smart")
    sandbox_reset.script(primary.id, fault="http_500", times=1)

    async def run() -> dict[str, object]:
        async with httpx.AsyncClient(timeout=60, headers=sandbox_reset.admin_headers) as client:
            return await send(client, sandbox_reset, tenant, "writer", "smart")

    body = asyncio.run(run())
    rows = wait_for_rows(sandbox_reset, tenant, 2)
    assert [(r["attempt"], r["model"], r["outcome"]) for r in rows] == [
        (1, primary.id, "failed"),
        (2, backup.id, "ok"),
    ]
    usage = body["usage"]
    expected = cost_usd(
        Usage(input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),  # type: ignore[index]
        backup.pricing,
    )
    assert rows[1]["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert rows[1]["cost_usd"] > 0
    assert rows[0]["cost_usd"] == 0
    assert rows[1]["shortcut"] == "smart"


def test_killing_the_ledger_mid_traffic_loses_nothing_and_counts_nothing_twice(
    switchyard: Switchyard,
) -> None:
    tenant = f"crash-{uuid.uuid4().hex[:6]}"
    agents = ("alpha-bot", "beta-bot")
    total = 200

    async def run() -> list[dict[str, object]]:
        limit = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=60, headers=switchyard.admin_headers) as client:

            async def one(index: int) -> dict[str, object]:
                async with limit:
                    if index == 60:
                        # Mid-traffic: kill the actor; Ray restarts it, the replicas resend.
                        actor = ray.get_actor(LEDGER_ACTOR, namespace="switchyard")
                        ray.kill(actor, no_restart=False)
                    return await send(client, switchyard, tenant, agents[index % 2], "fast")

            return await asyncio.gather(*(one(i) for i in range(total)))

    answers = asyncio.run(run())
    rows = wait_for_rows(switchyard, tenant, total)
    assert len(rows) == total  # every completed request booked once, none twice
    assert len({(r["call_id"], r["attempt"]) for r in rows}) == total

    spend = httpx.get(
        f"{switchyard.url}/v1/spend",
        params={"group_by": "agent", "tenant": tenant},
        headers=switchyard.admin_headers,
        timeout=30,
    ).json()["data"]
    by_agent = {row["group"]["agent"]: row for row in spend}
    for index, agent in enumerate(agents):
        mine = answers[index::2]
        assert by_agent[agent]["requests"] == len(mine)
        assert by_agent[agent]["cost_usd"] == pytest.approx(
            sum(float(a["switchyard"]["cost_usd"]) for a in mine),  # type: ignore[index]
            rel=1e-9,
        )


def test_calls_reusing_one_request_id_are_each_booked(switchyard: Switchyard) -> None:
    tenant = f"reused-{uuid.uuid4().hex[:6]}"

    def post(request_id: str) -> httpx.Response:
        return httpx.post(
            f"{switchyard.url}/v1/chat/completions",
            json={
                "model": "fast",
                "messages": [{"role": "user", "content": "again"}],
                "switchyard": {"tenant": tenant},
            },
            headers={"x-request-id": request_id, **switchyard.admin_headers},
            timeout=60,
        )

    answers = [post("same-id") for _ in range(3)]
    # (Not the x-request-id header: Ray Serve's proxy adds its own copy of the caller's id.)
    assert [(a.status_code, a.json()["switchyard"]["request_id"]) for a in answers] == [
        (200, "same-id")
    ] * 3
    call_ids = [answer.headers["x-switchyard-call-id"] for answer in answers]
    rows = wait_for_rows(switchyard, tenant, 3)
    assert sorted((r["call_id"], r["request_id"]) for r in rows) == sorted(
        (call_id, "same-id") for call_id in call_ids
    )
    assert post("").status_code == 400
