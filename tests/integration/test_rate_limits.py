"""A key's rpm on the real cluster (two Ingress replicas, calls through a front door that hands
each connection to the replicas in turn): README "Rate limits" says 50 concurrent calls on a key
with `rpm: 10` get exactly 10 answers and 40 refusals, whichever replicas the calls reach. Each
refusal is OpenAI's 429 with `Retry-After`, reaches no provider and books nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import httpx
import pytest

from serve_app.app.builder import APP_NAME
from serve_app.dev.local_cluster import ingress_urls, open_front_door
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray

RPM = 10
CALLS = 50
CHAT = {"model": "fast", "messages": [{"role": "user", "content": "one of fifty"}]}


def ledger_rows(switchyard: Switchyard, tenant: str) -> int:
    with sqlite3.connect(switchyard.ledger_path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM usage WHERE tenant = ?", (tenant,)).fetchone()
    return int(count)


def provider_requests(switchyard: Switchyard) -> int:
    sandboxes = switchyard.sandboxes  # one per wire format (OpenAI-compatible vendors share one)
    return sum(sum(sandboxes.stats(name)["requests"].values()) for name in sandboxes.urls)


async def fifty_at_once(url: str, headers: dict[str, str]) -> list[httpx.Response]:
    # One connection per call (none is free for reuse while all are in flight), so the front
    # door hands them to the two replicas in turn: 25 each.
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        calls = [client.post("/v1/chat/completions", json=CHAT) for _ in range(CALLS)]
        return await asyncio.gather(*calls)


def booked_up_to_now(switchyard: Switchyard) -> None:
    """Wait until every record the replicas made so far is in the ledger: a call answered by
    each replica now is booked after anything that replica booked before it."""
    tenant = f"sentinel-{uuid.uuid4().hex[:6]}"
    for url in ingress_urls(APP_NAME):
        answered = httpx.post(
            f"{url}/v1/chat/completions",
            json=CHAT,
            headers=switchyard.tenant_headers(tenant),
            timeout=60,
        )
        assert answered.status_code == 200, answered.text
    deadline = time.monotonic() + 30
    while ledger_rows(switchyard, tenant) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ledger_rows(switchyard, tenant) == 2


def test_fifty_concurrent_calls_on_a_key_with_rpm_10_get_exactly_10_answers(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    tenant = f"rpm-{uuid.uuid4().hex[:6]}"
    headers = switchyard.tenant_headers(tenant, rpm=RPM)
    door = open_front_door(APP_NAME)
    try:
        responses = asyncio.run(fifty_at_once(door.url, headers))
    finally:
        door.close()

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * RPM + [429] * (CALLS - RPM), statuses
    for refused in (r for r in responses if r.status_code == 429):
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded", error
        assert f"{RPM} requests per minute" in error["message"]
    # Refused before any provider was called, and booked nowhere.
    assert provider_requests(switchyard) == RPM
    booked_up_to_now(switchyard)
    assert ledger_rows(switchyard, tenant) == RPM
