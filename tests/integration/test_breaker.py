"""The circuit breaker across the cluster: two Ingress replicas, one ProviderHealth actor (§5)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import BREAKER_PROVIDER, Switchyard

pytestmark = pytest.mark.ray


def provider_status(switchyard: Switchyard, provider: str) -> dict[str, object]:
    states = httpx.get(
        f"{switchyard.url}/v1/providers", headers=switchyard.admin_headers, timeout=10
    ).json()["data"]
    return dict(next(s for s in states if s["id"] == provider))


def provider_state(switchyard: Switchyard, provider: str) -> str:
    return str(provider_status(switchyard, provider)["state"])


def seen_by_every_replica(switchyard: Switchyard, provider: str, state: str) -> bool:
    # Serve spreads requests over both Ingress replicas; twenty answers in a row agreeing means
    # both replicas hold that state (a replica left behind would show up with odds of 2^-20).
    return all(provider_state(switchyard, provider) == state for _ in range(20))


def wait_for(condition: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def chat(switchyard: Switchyard, model: str) -> dict[str, object]:
    response = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "ping"}]},
        headers=switchyard.admin_headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_three_failures_open_the_breaker_everywhere_and_a_probe_closes_it(
    sandbox_reset: Switchyard,
) -> None:
    directory = sandbox_reset.directory
    models = [m for m in directory.models.values() if m.provider == BREAKER_PROVIDER]
    primary = next(m for m in models if m.kind == "chat")
    for model in models:
        sandbox_reset.script(model.id, fault="http_500")  # until reset
    assert provider_state(sandbox_reset, BREAKER_PROVIDER) == "closed"

    for _ in range(3):
        served = chat(sandbox_reset, primary.id)["model"]
        assert served != primary.id  # failed over
    wait_for(lambda: seen_by_every_replica(sandbox_reset, BREAKER_PROVIDER, "open"))

    received = sum(sandbox_reset.requests_received(m.id) for m in models)
    for _ in range(10):
        body = chat(sandbox_reset, primary.id)
        skipped = body["switchyard"]["skipped"]  # type: ignore[index]
        assert {
            "model": primary.id,
            "reason": f"provider {BREAKER_PROVIDER}: breaker open",
        } in skipped
    assert sum(sandbox_reset.requests_received(m.id) for m in models) == received

    # The provider recovers; after the cooldown one probe goes through and closes the breaker.
    sandbox_reset.sandboxes.reset()
    remaining = provider_status(sandbox_reset, BREAKER_PROVIDER)["cooldown_remaining_s"]
    time.sleep(float(remaining))  # type: ignore[arg-type]
    wait_for(lambda: chat(sandbox_reset, primary.id)["model"] == primary.id)
    wait_for(lambda: seen_by_every_replica(sandbox_reset, BREAKER_PROVIDER, "closed"))
