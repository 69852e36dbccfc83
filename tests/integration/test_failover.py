"""Failover across the real graph: primary → backup → secondary → the hard error (design §4)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray

MESSAGES = [{"role": "user", "content": "Where should this go?"}]


def chat(switchyard: Switchyard, model: str, **extra: object) -> httpx.Response:
    return httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json={"model": model, "messages": MESSAGES, **extra},
        headers=switchyard.admin_headers,
        timeout=60,
    )


def test_primary_failing_is_served_by_the_backup_then_the_secondary(
    sandbox_reset: Switchyard,
) -> None:
    primary, backup, secondary = sandbox_reset.directory.chain("smart")
    sandbox_reset.script(primary.id, fault="http_500", times=1)
    body = chat(sandbox_reset, "smart").json()
    assert body["model"] == backup.id
    assert [a["outcome"] for a in body["switchyard"]["attempts"]] == ["failed", "ok"]

    sandbox_reset.script(primary.id, fault="http_500", times=1)
    sandbox_reset.script(backup.id, fault="http_503", times=1)
    body = chat(sandbox_reset, "smart").json()
    assert body["model"] == secondary.id
    assert [(a["model"], a["status"]) for a in body["switchyard"]["attempts"]] == [
        (primary.id, 500),
        (backup.id, 503),
        (secondary.id, None),
    ]


def test_all_three_failing_is_a_502_listing_three_attempts(sandbox_reset: Switchyard) -> None:
    chain = sandbox_reset.directory.chain("smart")
    for model in chain:
        sandbox_reset.script(model.id, fault="http_500", times=1)
    response = chat(sandbox_reset, "smart")
    assert response.status_code == 502
    attempts = response.json()["error"]["switchyard"]["attempts"]
    assert [(a["model"], a["provider"], a["error_kind"], a["status"]) for a in attempts] == [
        (m.id, m.provider, "ProviderServerError", 500) for m in chain
    ]
    assert all(a["duration_ms"] > 0 for a in attempts)
    assert "sandbox-key" not in response.text  # no secret in the hard error


def test_a_400_the_caller_caused_is_not_failed_over(sandbox_reset: Switchyard) -> None:
    primary, backup, _ = sandbox_reset.directory.chain("smart")
    sandbox_reset.script(primary.id, fault="http_400", times=1)
    response = chat(sandbox_reset, "smart")
    assert response.status_code == 400
    assert sandbox_reset.requests_received(backup.id) == 0


def test_a_stream_cut_after_content_ends_with_an_error_event(sandbox_reset: Switchyard) -> None:
    model_id = "openai/gpt-6-luna"
    sandbox_reset.script(model_id, fault="cut_stream_after_n_chunks", n=3, times=1)
    client = openai.OpenAI(
        base_url=f"{sandbox_reset.url}/v1", api_key=sandbox_reset.admin_key, max_retries=0
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=model_id, messages=MESSAGES, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received, "content arrived before the cut"
    assert "StreamInterrupted" in str(caught.value.body) or "failed after" in str(caught.value)
    # Once content went out there is no failover: the backup never saw the request.
    assert sandbox_reset.requests_received(sandbox_reset.directory.models[model_id].backup) == 0


def test_private_calls_never_reach_a_cloud_provider_even_with_every_local_model_down(
    sandbox_reset: Switchyard,
) -> None:
    directory = sandbox_reset.directory
    deployed = set(sandbox_reset.app_args.local_models)
    # A local model whose whole chain is down here (not deployed in this app).
    name = next(
        model.id
        for model in directory.models.values()
        if model.privacy == "local"
        and model.kind == "chat"
        and not {m.id for m in directory.chain(model.id)} & deployed
    )
    # A local chain down here is an outage (503); a cloud chain made private by the option can
    # never serve the call, whatever is up: the caller's request, a 400.
    for model, status, kind in ((name, 503, "NoCandidates"), ("smart", 400, "NoCandidateFits")):
        response = httpx.post(
            f"{sandbox_reset.url}/v1/chat/completions",
            json={"model": model, "messages": MESSAGES, "switchyard": {"privacy": "local"}},
            headers=sandbox_reset.admin_headers,
            timeout=60,
        )
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["type"] == kind
        reasons = {s["reason"] for s in error["switchyard"]["skipped"]}
        assert reasons <= {"not deployed in this app", "privacy: local only"}
    received = [sandbox_reset.sandboxes.stats(kind)["total"] for kind in SANDBOXES]
    assert received == [0, 0, 0]  # no cloud provider saw a single request


SANDBOXES = ("openai", "anthropic", "google")
