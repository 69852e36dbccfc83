"""The OpenAI sandbox, driven by the official openai SDK over loopback HTTP."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from deployments.sandbox import SandboxSet
from tests.deployments.sandbox.helpers import Control

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name three rivers please"},
]  # 3 + 4 = 7 words
WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric"],
        },
    },
}

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the clients live on it


async def _stream_text(client: openai.AsyncOpenAI, **kwargs: Any) -> tuple[str, list[Any]]:
    stream = await client.chat.completions.create(stream=True, **kwargs)
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.asyncio
async def test_plain_answer_is_deterministic_with_usage(openai_client: openai.AsyncOpenAI) -> None:
    first = await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    second = await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    other_model = await openai_client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)

    text = first.choices[0].message.content
    assert text and text == second.choices[0].message.content
    assert text != other_model.choices[0].message.content
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None
    assert first.usage.prompt_tokens == 7
    assert first.usage.completion_tokens == len(text.split()) == 12
    assert first.usage.total_tokens == 19
    assert first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0


@pytest.mark.asyncio
async def test_stream_concatenates_to_the_plain_answer(openai_client: openai.AsyncOpenAI) -> None:
    plain = await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    text, chunks = await _stream_text(
        openai_client, model="gpt-5", messages=MESSAGES, stream_options={"include_usage": True}
    )

    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage


@pytest.mark.asyncio
async def test_stream_without_include_usage_has_no_usage(openai_client: openai.AsyncOpenAI) -> None:
    _, chunks = await _stream_text(openai_client, model="gpt-5", messages=MESSAGES)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.asyncio
async def test_script_sets_length_and_cached_tokens(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script(
        "openai",
        model="gpt-5",
        output_tokens=20,
        cached_input_tokens=5,
        cache_write_tokens=1,
    )
    result = await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert result.usage is not None and result.usage.prompt_tokens_details is not None
    assert result.usage.completion_tokens == 20
    assert result.usage.prompt_tokens_details.cached_tokens == 5
    assert result.usage.prompt_tokens_details.cache_write_tokens == 1

    _, chunks = await _stream_text(
        openai_client, model="gpt-5", messages=MESSAGES, stream_options={"include_usage": True}
    )
    assert chunks[-1].usage == result.usage


@pytest.mark.asyncio
async def test_max_tokens_cuts_the_answer(openai_client: openai.AsyncOpenAI) -> None:
    result = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, max_completion_tokens=4
    )
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 4


@pytest.mark.asyncio
async def test_tool_call_then_tool_result(openai_client: openai.AsyncOpenAI) -> None:
    result = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, tools=[WEATHER_TOOL]
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sandbox", "days": 1, "metric": True}

    follow_up: list[ChatCompletionMessageParam] = [
        *MESSAGES,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny and 21 degrees"},
    ]
    answer = await openai_client.chat.completions.create(
        model="gpt-5", messages=follow_up, tools=[WEATHER_TOOL]
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "Tool result: Sunny and 21 degrees"


@pytest.mark.asyncio
async def test_streamed_tool_call_arguments_add_up(openai_client: openai.AsyncOpenAI) -> None:
    plain = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, tools=[WEATHER_TOOL]
    )
    stream = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True
    )
    chunks = [c async for c in stream]
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id is not None and deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert len(deltas) > 2  # the arguments arrive in pieces
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert plain.choices[0].message.tool_calls is not None
    assert arguments == plain.choices[0].message.tool_calls[0].function.arguments  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.asyncio
async def test_tool_choice_none_answers_in_text(openai_client: openai.AsyncOpenAI) -> None:
    result = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].message.tool_calls is None


@pytest.mark.asyncio
async def test_json_schema_response_format(openai_client: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"type": "string", "enum": ["river", "lake"]},
            "optional": {"type": "string"},
        },
        "required": ["name", "score", "tags", "kind"],
    }
    result = await openai_client.chat.completions.create(
        model="gpt-5",
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema},
        },
    )
    content = result.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {
        "name": "sandbox",
        "score": 1,
        "tags": ["sandbox"],
        "kind": "river",
    }


@pytest.mark.asyncio
async def test_embeddings_are_deterministic_unit_vectors(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    result = await openai_client.embeddings.create(
        model="text-embedding-3-small", input=["a river", "a lake", "a river"]
    )
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert result.usage.prompt_tokens == 6

    as_floats = await openai_client.embeddings.create(
        model="text-embedding-3-small", input="a river", encoding_format="float", dimensions=16
    )
    assert len(as_floats.data[0].embedding) == 16

    await control.script("openai", model="text-embedding-3-small", embedding_dimensions=384)
    scripted = await openai_client.embeddings.create(
        model="text-embedding-3-small", input="a river"
    )
    assert len(scripted.data[0].embedding) == 384


@pytest.mark.asyncio
async def test_models_lists_what_was_asked_for(openai_client: openai.AsyncOpenAI) -> None:
    await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    models = await openai_client.models.list()
    assert [m.id for m in models.data] == ["gpt-5"]
    assert models.data[0].owned_by == "switchyard-sandbox"


# --- faults -------------------------------------------------------------------------------------

ERROR_FAULTS = [
    ("http_500", openai.InternalServerError, 500, None),
    ("http_503", openai.InternalServerError, 503, None),
    ("http_429", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("quota_exhausted", openai.RateLimitError, 429, "insufficient_quota"),
    ("http_401", openai.AuthenticationError, 401, "invalid_api_key"),
    ("http_400", openai.BadRequestError, 400, None),
    ("context_length", openai.BadRequestError, 400, "context_length_exceeded"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "error_class", "status", "code"), ERROR_FAULTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_faults_raise_the_sdk_exception(
    control: Control,
    openai_client: openai.AsyncOpenAI,
    fault: str,
    error_class: type[openai.APIStatusError],
    status: int,
    code: str | None,
    stream: bool,
) -> None:
    await control.script("openai", model="gpt-5", fault=fault, times=1, retry_after_s=7)
    with pytest.raises(error_class) as caught:
        await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=stream)
    assert caught.value.status_code == status
    assert caught.value.code == code
    if fault == "http_429":
        assert caught.value.response.headers["retry-after"] == "7"
    # times=1: the next request is answered.
    await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=stream)


@pytest.mark.asyncio
async def test_fault_times_then_clears_and_every_request_counts(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script("openai", model="gpt-5", fault="http_500", times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    await openai_client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    counts = await control.stats("openai")
    assert counts == {"requests": {"gpt-5": 3, "gpt-4.1": 1}, "total": 4}


@pytest.mark.asyncio
async def test_fault_without_times_lasts_until_reset(
    control: Control, sandboxes: SandboxSet, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script("openai", model="gpt-5", fault="http_503")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    sandboxes.reset()
    await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert sandboxes.stats("openai") == {"requests": {"gpt-5": 1}, "total": 1}


@pytest.mark.asyncio
async def test_hang_holds_until_the_client_gives_up(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script("openai", model="gpt-5", fault="hang", times=1)
    with pytest.raises(openai.APITimeoutError):
        await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES, timeout=0.3)
    await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)


@pytest.mark.asyncio
async def test_malformed_json(control: Control, openai_client: openai.AsyncOpenAI) -> None:
    await control.script("openai", model="gpt-5", fault="malformed_json", times=2)
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError)):
        await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    with pytest.raises(json.JSONDecodeError):
        await _stream_text(openai_client, model="gpt-5", messages=MESSAGES)


@pytest.mark.asyncio
async def test_cut_stream_drops_the_connection_midway(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script("openai", model="gpt-5", fault="cut_stream_after_n_chunks", n=3, times=2)
    received: list[Any] = []
    stream = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    assert all(c.choices[0].finish_reason is None for c in received)

    with pytest.raises(openai.APIConnectionError):  # the whole-body form: the body stops halfway
        await openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES)


@pytest.mark.asyncio
async def test_latency_and_pace_delay_the_answer(
    control: Control, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script(
        "openai", model="gpt-5", latency_ms=100, tokens_per_s=200, output_tokens=10
    )
    started = time.monotonic()
    text, _ = await _stream_text(openai_client, model="gpt-5", messages=MESSAGES)
    # 100 ms before the response, then 9 gaps of 5 ms between the 10 words (lower bounds only).
    assert time.monotonic() - started >= 0.14
    assert len(text.split()) == 10


@pytest.mark.asyncio
async def test_slow_first_token_applies_only_while_the_fault_does(
    control: Control, sandboxes: SandboxSet, openai_client: openai.AsyncOpenAI
) -> None:
    await control.script("openai", model="gpt-5", fault="slow_first_token", ttft_ms=300, times=1)
    started = time.monotonic()
    stream = await openai_client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert time.monotonic() - started >= 0.25
    await stream.close()

    plan = sandboxes.book("openai").begin("gpt-5")
    assert plan.ttft_s == 0.0  # the fault is spent, so its ttft no longer applies
