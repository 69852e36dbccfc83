"""The official Anthropic SDK, pointed at Switchyard, works unchanged (issue 13): over the real
cluster and the sandbox providers, whichever provider's model serves the call."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import Switchyard
from tests.serve_app.surfaces.test_anthropic_surface import WEATHER

pytestmark = pytest.mark.ray

TENANT = "acme"


def client(switchyard: Switchyard, **headers: str) -> anthropic.Anthropic:
    """The SDK as a user sets it up: Switchyard's URL, a tenant key as its api_key (x-api-key)."""
    return anthropic.Anthropic(
        base_url=switchyard.url,
        api_key=switchyard.tenant_key(TENANT),
        max_retries=0,
        default_headers=headers,
    )


def ask(text: str) -> Any:
    return [{"role": "user", "content": text}]


def ledger_rows(switchyard: Switchyard, call_id: str, count: int) -> list[sqlite3.Row]:
    """The call's usage records, once the ledger has `count` of them (it books in batches)."""
    deadline = time.monotonic() + 60
    while True:
        with sqlite3.connect(switchyard.ledger_path) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT * FROM usage WHERE call_id = ? ORDER BY attempt", (call_id,)
            ).fetchall()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_shortcut_answers_with_usage_and_says_which_model_served(
    sandbox_reset: Switchyard,
) -> None:
    smart = sandbox_reset.directory.resolve("smart")
    raw = client(sandbox_reset).messages.with_raw_response.create(
        model="smart", max_tokens=200, messages=ask("Hello there, gateway")
    )
    message = raw.parse()
    assert message.model == smart.id == raw.headers["x-switchyard-model"]
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens == 3  # sandbox: a token is a word
    assert message.usage.output_tokens > 0
    assert message.stop_reason == "end_turn"
    assert sandbox_reset.requests_received(smart.id) == 1


@pytest.mark.parametrize("model_id", ["anthropic/claude-haiku-5-5", "openai/gpt-6-luna"])
def test_a_model_id_streams_the_same_message_as_it_answers(
    sandbox_reset: Switchyard, model_id: str
) -> None:
    messages = ask("Tell me about routing")
    whole = client(sandbox_reset).messages.create(model=model_id, max_tokens=200, messages=messages)
    with client(sandbox_reset).messages.stream(
        model=model_id, max_tokens=200, messages=messages
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text  # type: ignore[union-attr]
    assert final.model == model_id
    assert (final.usage.input_tokens, final.usage.output_tokens) == (
        whole.usage.input_tokens,
        whole.usage.output_tokens,
    )
    assert final.usage.input_tokens == 4


@pytest.mark.parametrize("model_id", ["anthropic/claude-haiku-5-5", "openai/gpt-6-luna"])
def test_tool_use_round_trips(sandbox_reset: Switchyard, model_id: str) -> None:
    sdk = client(sandbox_reset)
    messages = ask("What is the weather in Paris?")
    first = sdk.messages.create(model=model_id, max_tokens=200, messages=messages, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    with sdk.messages.stream(
        model=model_id, max_tokens=200, messages=messages, tools=[WEATHER]
    ) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == [b.type for b in first.content]
    assert streamed.content[-1].input == call.input  # type: ignore[union-attr]
    answer = sdk.messages.create(
        model=model_id,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            *messages,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "sunny and 21C"}
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert "sunny and 21C" in answer.content[0].text  # type: ignore[union-attr]


def test_errors_raise_the_sdks_own_classes(sandbox_reset: Switchyard) -> None:
    sdk = client(sandbox_reset)
    with pytest.raises(anthropic.NotFoundError, match="did you mean 'smart'"):
        sdk.messages.create(model="smrt", max_tokens=10, messages=ask("hi"))
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        sdk.messages.create(model="smart", max_tokens=10, messages=[])
    for model in sandbox_reset.directory.chain("classify"):
        sandbox_reset.script(model.id, fault="overloaded")
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk.messages.create(model="classify", max_tokens=10, messages=ask("hi"))
    assert caught.value.body["error"]["switchyard_error"] == "AllCandidatesFailed"  # type: ignore[index]


def test_an_overloaded_anthropic_primary_is_served_by_an_openai_backup(
    sandbox_reset: Switchyard,
) -> None:
    primary, backup, _ = sandbox_reset.directory.chain("code")
    assert sandbox_reset.sandbox_kind(primary.id) == "anthropic"
    assert sandbox_reset.sandbox_kind(backup.id) == "openai"
    sandbox_reset.script(primary.id, fault="overloaded", times=1)
    raw = client(sandbox_reset).messages.with_raw_response.create(
        model="code", max_tokens=200, messages=ask("Refactor this function")
    )
    message = raw.parse()
    assert message.model == backup.id
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens == 3 and message.usage.output_tokens > 0
    rows = ledger_rows(sandbox_reset, raw.headers["x-switchyard-call-id"], 2)
    assert [(r["attempt"], r["model"], r["outcome"]) for r in rows] == [
        (1, primary.id, "failed"),
        (2, backup.id, "ok"),
    ]
    assert rows[1]["cost_usd"] > 0


def cached_system(words: int) -> Any:
    """A system prompt marked for caching, unique to the test run (the sandbox's cache lasts)."""
    text = " ".join(f"rule{i}-{uuid.uuid4().hex[:4]}" for i in range(words))
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def test_cache_control_served_by_an_anthropic_model_books_cache_tokens_at_cache_prices(
    sandbox_reset: Switchyard,
) -> None:
    primary, _, _ = sandbox_reset.directory.chain("code")
    assert sandbox_reset.sandbox_kind(primary.id) == "anthropic"
    system, thinking = cached_system(1100), {"type": "enabled", "budget_tokens": 1024}
    sdk = client(sandbox_reset)
    raws = [
        sdk.messages.with_raw_response.create(
            model="code", max_tokens=2048, system=system, thinking=thinking, messages=ask("Go on")
        )
        for _ in range(2)
    ]
    first, second = (raw.parse() for raw in raws)
    assert all("x-switchyard-dropped" not in raw.headers for raw in raws)
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (
        1100,
        0,
    )
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (
        0,
        1100,
    )
    assert [block.type for block in second.content] == ["thinking", "text"]

    (written,), (read,) = (
        ledger_rows(sandbox_reset, raw.headers["x-switchyard-call-id"], 1) for raw in raws
    )
    prices = primary.pricing
    assert prices.cache_write is not None and prices.cached_input is not None
    uncached = 2  # "Go on": the sandbox counts words
    for row, cache_price in ((written, prices.cache_write), (read, prices.cached_input)):
        assert row["input_tokens"] == 1100 + uncached
        expected = (
            uncached * prices.input + 1100 * cache_price + row["output_tokens"] * prices.output
        ) / 1_000_000
        assert row["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert (written["cache_write_tokens"], read["cached_input_tokens"]) == (1100, 1100)


def test_cache_control_served_by_an_openai_backup_is_noted_as_dropped(
    sandbox_reset: Switchyard,
) -> None:
    primary, backup, _ = sandbox_reset.directory.chain("code")
    sandbox_reset.script(primary.id, fault="overloaded", times=1)
    raw = client(sandbox_reset).messages.with_raw_response.create(
        model="code",
        max_tokens=2048,
        system=cached_system(1100),
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=ask("Go on"),
    )
    message = raw.parse()
    assert message.model == backup.id and message.content[0].type == "text"
    assert raw.headers["x-switchyard-dropped"] == "cache_control, thinking"
    assert message.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens == 0


@pytest.mark.parametrize("model_id", ["anthropic/claude-haiku-5-5", "openai/gpt-6-luna"])
def test_the_same_call_through_both_surfaces_books_the_same_cost(
    sandbox_reset: Switchyard, model_id: str
) -> None:
    text = f"the same question {uuid.uuid4().hex[:6]}"
    messages = client(sandbox_reset).messages.with_raw_response.create(
        model=model_id, max_tokens=100, messages=ask(text)
    )
    completions = openai.OpenAI(
        base_url=f"{sandbox_reset.url}/v1", api_key=sandbox_reset.tenant_key(TENANT), max_retries=0
    ).chat.completions.with_raw_response.create(
        model=model_id, max_tokens=100, messages=[{"role": "user", "content": text}]
    )
    booked = [
        ledger_rows(sandbox_reset, raw.headers["x-switchyard-call-id"], 1)
        for raw in (messages, completions)
    ]
    (by_messages,), (by_completions,) = booked
    assert by_messages["cost_usd"] == pytest.approx(by_completions["cost_usd"], rel=1e-12)
    assert by_messages["cost_usd"] > 0
    assert by_messages["input_tokens"] == by_completions["input_tokens"]
    assert by_messages["output_tokens"] == by_completions["output_tokens"]


def test_a_malformed_body_is_an_invalid_request_error(switchyard: Switchyard) -> None:
    response = httpx.post(
        f"{switchyard.url}/v1/messages",
        json={"model": "smart", "messages": ask("no max_tokens")},
        headers={"x-api-key": switchyard.tenant_key(TENANT)},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in response.json()["error"]["message"]


def test_count_tokens_is_exact_for_anthropic_models_and_a_marked_estimate_for_others(
    sandbox_reset: Switchyard,
) -> None:
    sdk = client(sandbox_reset)
    messages = ask("Hello there, gateway")
    exact = sdk.messages.with_raw_response.count_tokens(model="smart", messages=messages)
    answered = sdk.messages.create(model="smart", max_tokens=50, messages=messages)
    assert exact.parse().input_tokens == answered.usage.input_tokens == 3  # the sandbox's count
    assert exact.headers["x-switchyard-token-count"] == "exact"
    other = sdk.messages.with_raw_response.count_tokens(
        model="openai/gpt-6-luna", messages=messages
    )
    assert other.headers["x-switchyard-token-count"] == "estimate"
    assert other.http_response.json()["switchyard"]["exact"] is False
