"""The Anthropic sandbox, driven by the official anthropic SDK over loopback HTTP."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import MessageParam, ToolParam

from deployments.sandbox import SandboxSet
from tests.deployments.sandbox.helpers import Control

SYSTEM = "You are terse."  # 3 words
MESSAGES: list[MessageParam] = [{"role": "user", "content": "Name three rivers please"}]  # 4 words
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the clients live on it


async def _create(client: anthropic.AsyncAnthropic, **kwargs: Any) -> anthropic.types.Message:
    return await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, system=SYSTEM, messages=MESSAGES, **kwargs
    )


async def _events(client: anthropic.AsyncAnthropic, **kwargs: Any) -> list[Any]:
    stream = await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=256,
        system=SYSTEM,
        messages=MESSAGES,
        stream=True,
        **kwargs,
    )
    return [event async for event in stream]


@pytest.mark.asyncio
async def test_plain_answer_with_usage(anthropic_client: anthropic.AsyncAnthropic) -> None:
    first = await _create(anthropic_client)
    second = await _create(anthropic_client)

    assert first.content == second.content
    (block,) = first.content
    assert block.type == "text" and len(block.text.split()) == 12
    assert first.stop_reason == "end_turn"
    assert first.role == "assistant" and first.model == "claude-sonnet-4-5"
    assert first.usage.input_tokens == 7  # the system prompt counts
    assert first.usage.output_tokens == 12
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation_input_tokens == 0


@pytest.mark.asyncio
async def test_stream_has_the_real_event_sequence_and_text(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    plain = await _create(anthropic_client)
    events = await _events(anthropic_client)

    types = [e.type for e in events]
    deltas = types.count("content_block_delta")
    assert deltas == 12
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK drops `ping` itself
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert plain.content[0].type == "text" and text == plain.content[0].text
    assert events[0].message.usage.input_tokens == 7
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 12


@pytest.mark.asyncio
async def test_stream_helper_builds_the_same_message(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    plain = await _create(anthropic_client)
    async with anthropic_client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=256, system=SYSTEM, messages=MESSAGES
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and plain.content[0].type == "text"
    assert final.content[0].text == plain.content[0].text  # the helper's block type is its own
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_cache_tokens_are_parts_of_the_prompt(
    control: Control, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    await control.script(
        "anthropic",
        model="claude-sonnet-4-5",
        cached_input_tokens=4,
        cache_write_tokens=2,
    )
    usage = (await _create(anthropic_client)).usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (1, 4, 2)
    started = (await _events(anthropic_client))[0]
    assert started.message.usage.cache_read_input_tokens == 4
    assert started.message.usage.cache_creation_input_tokens == 2


@pytest.mark.asyncio
async def test_max_tokens_stop_reason(anthropic_client: anthropic.AsyncAnthropic) -> None:
    result = await anthropic_client.messages.create(
        model="claude-sonnet-4-5", max_tokens=3, messages=MESSAGES
    )
    assert result.stop_reason == "max_tokens"
    assert result.usage.output_tokens == 3


@pytest.mark.asyncio
async def test_tool_use_then_tool_result(anthropic_client: anthropic.AsyncAnthropic) -> None:
    result = await _create(anthropic_client, tools=[WEATHER_TOOL])
    assert result.stop_reason == "tool_use"
    (block,) = result.content
    assert block.type == "tool_use"
    assert block.name == "get_weather"
    assert block.input == {"city": "sandbox", "days": 1}

    follow_up: list[MessageParam] = [
        *MESSAGES,
        {"role": "assistant", "content": [block.model_dump()]},  # type: ignore[list-item]
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,
                    "content": [{"type": "text", "text": "Sunny and 21 degrees"}],
                }
            ],
        },
    ]
    answer = await anthropic_client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=follow_up, tools=[WEATHER_TOOL]
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text"
    assert answer.content[0].text == "Tool result: Sunny and 21 degrees"


@pytest.mark.asyncio
async def test_streamed_tool_use_input_json_deltas(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    plain = await _create(anthropic_client, tools=[WEATHER_TOOL])
    events = await _events(anthropic_client, tools=[WEATHER_TOOL])

    start = events[1]
    assert start.type == "content_block_start" and start.content_block.type == "tool_use"
    partial = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert len(partial) > 1
    assert plain.content[0].type == "tool_use"
    assert json.loads("".join(partial)) == plain.content[0].input
    assert events[-2].delta.stop_reason == "tool_use"

    async with anthropic_client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=256,
        system=SYSTEM,
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
    ) as stream:
        final = await stream.get_final_message()
    (block,) = final.content
    assert block.type == "tool_use" and plain.content[0].type == "tool_use"
    assert (block.id, block.name, block.input) == (
        plain.content[0].id,
        plain.content[0].name,
        plain.content[0].input,
    )


@pytest.mark.asyncio
async def test_count_tokens(anthropic_client: anthropic.AsyncAnthropic) -> None:
    counted = await anthropic_client.messages.count_tokens(
        model="claude-sonnet-4-5", system=SYSTEM, messages=MESSAGES
    )
    assert counted.input_tokens == 7


# --- faults -------------------------------------------------------------------------------------

ERROR_FAULTS = [
    ("http_500", anthropic.InternalServerError, 500, "api_error"),
    ("http_503", anthropic.InternalServerError, 503, "api_error"),
    ("overloaded", anthropic.InternalServerError, 529, "overloaded_error"),
    ("http_429", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("quota_exhausted", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("http_401", anthropic.AuthenticationError, 401, "authentication_error"),
    ("http_400", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("context_length", anthropic.BadRequestError, 400, "invalid_request_error"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "error_class", "status", "error_type"), ERROR_FAULTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_faults_raise_the_sdk_exception(
    control: Control,
    anthropic_client: anthropic.AsyncAnthropic,
    fault: str,
    error_class: type[anthropic.APIStatusError],
    status: int,
    error_type: str,
    stream: bool,
) -> None:
    await control.script("anthropic", model="claude-sonnet-4-5", fault=fault, times=1)
    with pytest.raises(error_class) as caught:
        if stream:
            await _events(anthropic_client)
        else:
            await _create(anthropic_client)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == error_type
    if fault == "context_length":
        assert (
            caught.value.body["error"]["message"]
            == "prompt is too long: 8199 tokens > 8192 maximum"
        )
    if fault == "http_429":
        assert caught.value.response.headers["retry-after"] == "1"
    await _create(anthropic_client)  # times=1: answered again


@pytest.mark.asyncio
async def test_stats_count_faulted_requests(
    control: Control, sandboxes: SandboxSet, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    sandboxes.script("anthropic", "claude-sonnet-4-5", fault="http_429", times=1)
    with pytest.raises(anthropic.RateLimitError):
        await _create(anthropic_client)
    await _create(anthropic_client)
    assert await control.stats("anthropic") == {
        "requests": {"claude-sonnet-4-5": 2},
        "total": 2,
    }


@pytest.mark.asyncio
async def test_hang(control: Control, anthropic_client: anthropic.AsyncAnthropic) -> None:
    await control.script("anthropic", model="claude-sonnet-4-5", fault="hang", times=1)
    with pytest.raises(anthropic.APITimeoutError):
        await _create(anthropic_client, timeout=0.3)


@pytest.mark.asyncio
async def test_cut_stream(control: Control, anthropic_client: anthropic.AsyncAnthropic) -> None:
    await control.script(
        "anthropic",
        model="claude-sonnet-4-5",
        fault="cut_stream_after_n_chunks",
        n=4,
        times=2,
    )
    stream = await anthropic_client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=MESSAGES, stream=True
    )
    received = []
    # anthropic 2.14 lets the transport's error out of a stream unwrapped.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        async for event in stream:
            received.append(event.type)
    assert received == ["message_start", "content_block_start", "content_block_delta"]  # + the ping

    with pytest.raises(anthropic.APIConnectionError):  # the whole-body form: the body stops halfway
        await _create(anthropic_client)


@pytest.mark.asyncio
async def test_malformed_json(control: Control, anthropic_client: anthropic.AsyncAnthropic) -> None:
    await control.script("anthropic", model="claude-sonnet-4-5", fault="malformed_json", times=2)
    with pytest.raises((anthropic.APIResponseValidationError, json.JSONDecodeError)):
        await _create(anthropic_client)
    with pytest.raises(json.JSONDecodeError):
        await _events(anthropic_client)
