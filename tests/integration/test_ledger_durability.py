"""A dying Ingress loses no booked record (issue 12 items 3 and 6, design §6).

SIGKILL: the CostLedger actor is first taken away for good, so that no record of the calls below
can reach it before the kill: every one is then only in the replicas' memory and journals, as in
the race the issue saw (an answer out, its record still in the outbox), made certain. Both Ingress
replicas are killed; Serve starts new ones, which create the actor anew and replay the dead
replicas' journals. Graceful stop: a slow stream is in flight when its app is deleted; it ends
with [DONE] and is booked, and the app is deployed again for the tests after it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import uuid

import httpx
import pytest
import ray
from ray import serve
from ray.util.state import list_actors

from serve_app.app.builder import APP_NAME, INGRESS_NAME
from serve_app.app.deploy import deploy, serve_config
from serve_app.app.runtime import LEDGER_ACTOR
from tests.integration.conftest import Switchyard, wait_until_serving
from tests.integration.test_ledger import ledger_rows, wait_for_rows

pytestmark = pytest.mark.ray

CALLS = 60


def booked(switchyard: Switchyard, tenant: str) -> list[tuple[str, int]]:
    return [(row["call_id"], row["attempt"]) for row in ledger_rows(switchyard, tenant)]


def ingress_pids() -> list[int]:
    replicas = list_actors(
        filters=[("class_name", "=", f"ServeReplica:{APP_NAME}:{INGRESS_NAME}")],
        detail=True,
    )
    return [int(a.pid) for a in replicas if a.state == "ALIVE" and a.pid]


async def answered_call_ids(switchyard: Switchyard, tenant: str) -> list[str]:
    limit = asyncio.Semaphore(16)
    headers = switchyard.tenant_headers(tenant)
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:

        async def one(index: int) -> str:
            async with limit:
                response = await client.post(
                    f"{switchyard.url}/v1/chat/completions",
                    json={
                        "model": "fast",
                        "messages": [{"role": "user", "content": f"call {index}"}],
                        "switchyard": {"tenant": tenant},
                    },
                )
            assert response.status_code == 200, response.text
            return response.headers["x-switchyard-call-id"]

        return await asyncio.gather(*(one(i) for i in range(CALLS)))


def test_answered_calls_are_booked_once_after_the_ingress_is_sigkilled(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    tenant = f"sigkill-{uuid.uuid4().hex[:6]}"
    ray.kill(ray.get_actor(LEDGER_ACTOR, namespace="switchyard"), no_restart=True)

    call_ids = asyncio.run(answered_call_ids(switchyard, tenant))
    assert booked(switchyard, tenant) == []  # every record is still in a replica

    pids = ingress_pids()
    assert len(pids) == 2
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until_serving(switchyard.url, switchyard.dashboard_url, timeout_s=120)

    rows = [(r["call_id"], r["attempt"]) for r in wait_for_rows(switchyard, tenant, CALLS)]
    assert sorted(call_id for call_id, _ in rows) == sorted(call_ids)  # none missing
    assert len(set(rows)) == len(rows) == CALLS  # none twice


def test_a_stream_in_flight_when_the_app_stops_ends_with_done_and_is_booked(
    sandbox_reset: Switchyard,
) -> None:
    switchyard = sandbox_reset
    tenant = f"drain-{uuid.uuid4().hex[:6]}"
    # Twelve tokens at four a second: the stream is still going when the app is told to stop.
    switchyard.script(
        switchyard.directory.resolve("fast").id, tokens_per_s=4, output_tokens=12, ttft_ms=0
    )
    first_content = threading.Event()
    events: list[str] = []
    headers: dict[str, str] = {}

    def read_stream() -> None:
        with httpx.stream(
            "POST",
            f"{switchyard.url}/v1/chat/completions",
            json={
                "model": "fast",
                "stream": True,
                "messages": [{"role": "user", "content": "a slow answer"}],
                "switchyard": {"tenant": tenant},
            },
            headers=switchyard.tenant_headers(tenant),
            timeout=120,
        ) as response:
            headers.update(response.headers)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(line.removeprefix("data: "))
                    if '"content"' in line:
                        first_content.set()

    reader = threading.Thread(target=read_stream)
    reader.start()
    try:
        assert first_content.wait(60)
        serve.delete(APP_NAME)  # every replica drains: the Ingress, and the proxy it streams from
        reader.join(120)
        assert not reader.is_alive()
        assert events[-1] == "[DONE]"
        assert not any('"error"' in event for event in events[:-1])
        words = "".join(
            choice["delta"].get("content") or ""
            for event in events[:-1]
            for choice in json.loads(event).get("choices", [])
        ).split()
        assert len(words) == 12  # the whole answer, not a cut one
        rows = booked(switchyard, tenant)  # sent by the stopping replica, before it went
        assert rows == [(headers["x-switchyard-call-id"], 1)]
    finally:
        reader.join(120)
        config = serve_config(
            switchyard.app_args, switchyard.directory, http_port=switchyard.http_port
        )
        deploy(config, switchyard.dashboard_url)
        wait_until_serving(switchyard.url, switchyard.dashboard_url)
