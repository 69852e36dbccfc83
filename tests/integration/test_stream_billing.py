"""Streams that end early are billed, on the cluster with the sandbox providers (issue 11 item 8).

A caller who drops a stream after its first chunk, or an upstream that cuts it midway, is booked
with what was used, marked estimated: the input from Anthropic's message_start (the provider's
exact count), the output from what was delivered. A whole stream books the provider's own usage.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

import httpx
import pytest

from directory.schema import ModelProfile
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray

MESSAGES = [{"role": "user", "content": "Tell me about the routing of streams"}]


def anthropic_model(switchyard: Switchyard) -> ModelProfile:
    return next(
        model
        for model in switchyard.directory.models.values()
        if model.provider == "anthropic" and model.kind == "chat"
    )


def body(model: str, tenant: str, stream: bool = True) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "messages": MESSAGES,
        "switchyard": {"tenant": tenant, "agent": "billing"},
    }


def booked(switchyard: Switchyard, tenant: str) -> sqlite3.Row:
    """The tenant's one ledger record, once the ledger has it."""
    deadline = time.monotonic() + 60
    while True:
        with sqlite3.connect(switchyard.ledger_path) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM usage WHERE tenant = ?", (tenant,)).fetchall()
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [row] = rows
    return row


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: {")]


def test_a_whole_stream_books_the_providers_exact_usage(sandbox_reset: Switchyard) -> None:
    model = anthropic_model(sandbox_reset)
    tenant = f"whole-{uuid.uuid4().hex[:6]}"
    with httpx.stream(
        "POST",
        f"{sandbox_reset.url}/v1/chat/completions",
        json=body(model.id, tenant),
        headers=sandbox_reset.tenant_headers(tenant),  # a key of the tenant the body names
        timeout=60,
    ) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())
    [route] = [event["switchyard"] for event in events(lines) if "switchyard" in event]

    row = booked(sandbox_reset, tenant)
    assert (row["outcome"], row["estimated"]) == ("ok", 0)
    usage = route["usage"]
    assert (row["input_tokens"], row["output_tokens"]) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )
    assert usage["estimated"] is False
    assert row["cost_usd"] > 0


def test_a_stream_dropped_after_its_first_chunk_is_billed_as_estimated(
    sandbox_reset: Switchyard,
) -> None:
    model = anthropic_model(sandbox_reset)
    whole = httpx.post(
        f"{sandbox_reset.url}/v1/chat/completions",
        json=body(model.id, "counting", stream=False),
        headers=sandbox_reset.tenant_headers("counting"),
        timeout=60,
    )
    prompt_tokens = whole.json()["usage"]["prompt_tokens"]  # the provider's count
    # A long, slow answer: the caller is gone long before it could end.
    sandbox_reset.script(model.id, output_tokens=200, tokens_per_s=5)

    tenant = f"dropped-{uuid.uuid4().hex[:6]}"
    with httpx.stream(
        "POST",
        f"{sandbox_reset.url}/v1/chat/completions",
        json=body(model.id, tenant),
        headers=sandbox_reset.tenant_headers(tenant),  # a key of the tenant the body names
        timeout=60,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            chunk = json.loads(line.removeprefix("data: ")) if line.startswith("data: {") else {}
            if any(choice["delta"].get("content") for choice in chunk.get("choices", [])):
                break  # the first content: hang up

    row = booked(sandbox_reset, tenant)
    assert (row["outcome"], row["estimated"]) == ("interrupted", 1)
    assert row["cost_usd"] > 0
    assert row["output_tokens"] > 0
    assert row["input_tokens"] == prompt_tokens  # message_start's count, not an estimate


def test_a_stream_the_upstream_cuts_midway_is_billed_as_estimated(
    sandbox_reset: Switchyard,
) -> None:
    model = anthropic_model(sandbox_reset)
    sandbox_reset.script(model.id, fault="cut_stream_after_n_chunks", n=6)
    tenant = f"cut-{uuid.uuid4().hex[:6]}"
    with httpx.stream(
        "POST",
        f"{sandbox_reset.url}/v1/chat/completions",
        json=body(model.id, tenant),
        headers=sandbox_reset.tenant_headers(tenant),  # a key of the tenant the body names
        timeout=60,
    ) as response:
        assert response.status_code == 200
        received = events(list(response.iter_lines()))
    assert "error" in received[-1]  # an explicit error event ends it, never a quiet end

    row = booked(sandbox_reset, tenant)
    assert (row["outcome"], row["estimated"]) == ("interrupted", 1)
    assert row["cost_usd"] > 0 and row["output_tokens"] > 0
