"""A key's rpm and tpm through the gateway (calls carrying `CallOptions.key`, as the Ingress sets
it from the checked key), and the 429 the HTTP API answers with. No Ray: the replicas' leases come
from a real `Allowances` book held in-process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from deployments import openai_format
from deployments.errors import AllCandidatesFailed, KeyRateLimited
from serve_app.allowances.actor import Allowances
from serve_app.identity.caller import KeyLimits
from serve_app.surfaces.http_api import HttpApi
from tests.serve_app.allowances.test_gateway_allowances import Replica
from tests.serve_app.fakes import ScriptedBackends, server_error
from tests.serve_app.surfaces.test_http_api import QuietReplica

RPM_10 = KeyLimits(key_id="key_rpm10", rpm=10)


async def fifty_at_once(*replicas: Replica, key: KeyLimits) -> list[Any]:
    calls = [replicas[n % len(replicas)].call("smart", key=key) for n in range(50)]
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_fifty_concurrent_calls_on_a_key_with_rpm_10_answer_exactly_10() -> None:
    replica = Replica(Allowances())
    outcomes = await fifty_at_once(replica, key=RPM_10)
    refused = [o for o in outcomes if isinstance(o, KeyRateLimited)]
    assert len(refused) == 40 and len(outcomes) - len(refused) == 10
    # Refused before any provider was called, and booked nowhere.
    assert len(replica.backends.calls) == 10
    assert len(replica.ledger.records) == 10
    error = refused[0]
    assert (error.http_status, error.limit, error.per_minute, error.key_id) == (
        429,
        "rpm",
        10,
        "key_rpm10",
    )
    assert 1 <= error.retry_after_s <= 60
    body = openai_format.error_to_openai(error)
    assert body["error"]["code"] == "rate_limit_exceeded"


async def test_two_replicas_on_one_book_answer_exactly_the_rpm_together() -> None:
    book = Allowances()
    first, second = Replica(book, name="one"), Replica(book, name="two")
    outcomes = await fifty_at_once(first, second, key=RPM_10)
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 10
    assert len(first.backends.calls) + len(second.backends.calls) == 10


@pytest.mark.parametrize("few", [0, 1])
async def test_the_rpm_is_reached_however_unevenly_the_calls_reach_the_replicas(few: int) -> None:
    """3 of the 50 calls reach one replica, 47 the other (either one first): the replica that
    leased the limit first and has no more calls hands its free units to the one whose calls
    wait, so exactly the rpm is answered, never more."""
    book = Allowances()
    pair = [Replica(book, name="one"), Replica(book, name="two")]
    for replica in pair:
        replica.leases.start(0.005)  # the lease rounds, as every Ingress replica runs them
    try:
        calls = [pair[few].call("smart", key=RPM_10) for _ in range(3)]
        calls += [pair[1 - few].call("smart", key=RPM_10) for _ in range(47)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for replica in pair:
            await replica.leases.aclose()
    refused = [o for o in outcomes if isinstance(o, KeyRateLimited)]
    assert len(refused) == 40 and len(outcomes) - len(refused) == 10
    assert sum(len(replica.backends.calls) for replica in pair) == 10


async def test_a_key_without_limits_and_a_call_without_a_key_are_not_limited() -> None:
    replica = Replica(Allowances())
    outcomes = await fifty_at_once(replica, key=KeyLimits(key_id="unlimited"))
    assert not any(isinstance(o, BaseException) for o in outcomes)
    outcomes = await asyncio.gather(*(replica.call("smart") for _ in range(20)))
    assert len(outcomes) == 20


async def test_tpm_reserves_prompt_and_output_cap_and_counts_what_was_used() -> None:
    # Each call reserves ~6 prompt tokens + its max_tokens of 200; the scripted answer uses 13,
    # which stays counted for a minute while the rest of the reservation is free at once.
    replica = Replica(Allowances())
    key = KeyLimits(key_id="key_tpm", tpm=250)
    for _ in range(4):  # 250 - 3 * 13 = 211 still cover 206
        route, _ = await replica.call("smart", key=key, max_tokens=200)
        assert route.usage.input_tokens + route.usage.output_tokens == 13
    try:  # 250 - 4 * 13 = 198 do not
        await replica.call("smart", key=key, max_tokens=200)
        raise AssertionError("a call over the key's tpm was answered")
    except KeyRateLimited as error:
        assert (error.limit, error.per_minute) == ("tpm", 250)
    assert len(replica.backends.calls) == 4


async def test_a_call_whose_every_attempt_failed_still_counts_against_the_rpm() -> None:
    backends = ScriptedBackends(
        failures={m: [server_error(m.split("/")[0])] for m in ("alpha/a1", "beta/b1", "local/l1")}
    )
    replica = Replica(Allowances(), backends=backends)
    key = KeyLimits(key_id="key_rpm2", rpm=2)
    outcomes = await asyncio.gather(
        replica.call("smart", key=key), return_exceptions=True
    )  # every candidate fails: a request was made
    assert isinstance(outcomes[0], AllCandidatesFailed)
    await replica.call("smart", key=key)
    outcomes = await asyncio.gather(replica.call("smart", key=key), return_exceptions=True)
    assert isinstance(outcomes[0], KeyRateLimited)


class RefusingGateway:
    """Stands in for a gateway whose key is over its rpm (the HTTP mapping is under test)."""

    directory = Replica(Allowances()).gateway.directory

    async def complete(self, call: object) -> object:
        raise KeyRateLimited(key_id="key_1", limit="rpm", per_minute=10, retry_after_s=42)


async def test_the_http_answer_is_a_429_with_retry_after_in_openais_error_format() -> None:
    api = HttpApi(RefusingGateway(), QuietReplica())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=api.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "10 requests per minute" in error["message"]
