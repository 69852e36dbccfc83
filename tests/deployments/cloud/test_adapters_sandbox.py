"""Each adapter through its real SDK against its sandbox provider, over real loopback HTTP: plain
and streamed answers, a tool-call round trip, usage exactly as the sandbox reported it, and every
scripted fault mapped to its exception, with the API key in no error and one request per call
(SDK retries are off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from deployments import errors
from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    Message,
    ToolCall,
    ToolSpec,
    Usage,
)
from deployments.cloud import ChatAdapter, Timeouts, build_adapter
from deployments.sandbox import SandboxSet, start_sandboxes

KINDS = ["anthropic", "openai", "openai-compatible", "google"]
SECRET = "sk-test-SECRET123456"
TIMEOUTS = Timeouts(connect_s=2, total_s=5)
# For the hang fault: the SDK's read timeout, short, so that the tests stay quick.
SHORT = Timeouts(connect_s=2, total_s=0.5)
PROMPT = "What will the weather be like in Paris tomorrow afternoon?"
WEATHER = ToolSpec(
    name="get_weather",
    description="The forecast for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandboxes: SandboxSet) -> None:
    sandboxes.reset()


async def _adapter(sandboxes: SandboxSet, kind: str, timeouts: Timeouts = TIMEOUTS) -> ChatAdapter:
    return build_adapter(kind, f"sandbox-{kind}", sandboxes.url(kind), SECRET, timeouts)


@pytest.fixture(params=KINDS)
async def kind_and_adapter(
    request: pytest.FixtureRequest, sandboxes: SandboxSet
) -> AsyncIterator[tuple[str, ChatAdapter]]:
    kind: str = request.param
    adapter = await _adapter(sandboxes, kind)
    yield kind, adapter
    await adapter.aclose()


async def _script(sandboxes: SandboxSet, kind: str, **fields: Any) -> None:
    """Through the control API, as a separate process would."""
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{sandboxes.root_url(kind)}/_sandbox/script", json=fields)
        response.raise_for_status()


async def _requests_seen(sandboxes: SandboxSet, kind: str, model: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sandboxes.root_url(kind)}/_sandbox/stats")
        response.raise_for_status()
        count: int = response.json()["requests"].get(model, 0)
        return count


def _ask(model: str, *, tools: bool = False) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[Message(role="user", content=PROMPT)],
        max_tokens=200,
        tools=[WEATHER] if tools else None,
    )


async def _collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


def _joined_calls(chunks: list[ChatChunk]) -> list[ToolCall]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
    return [ToolCall(**calls[i]) for i in sorted(calls)]


# --- answers --------------------------------------------------------------------------------------


async def test_plain_and_streamed_answers_agree(
    kind_and_adapter: tuple[str, ChatAdapter],
) -> None:
    _, adapter = kind_and_adapter
    result = await adapter.complete(_ask("sandbox-plain"))
    chunks = await _collect(adapter.stream(_ask("sandbox-plain")))
    assert result.text
    assert result.finish_reason == "stop"
    assert result.provider_model == "sandbox-plain"
    assert "".join(c.text for c in chunks) == result.text
    assert len([c for c in chunks if c.text]) > 1  # really streamed, in pieces
    last = chunks[-1]
    assert (last.finish_reason, last.usage) == ("stop", result.usage)
    assert all(c.finish_reason is None and c.usage is None for c in chunks[:-1])


async def test_tool_call_round_trip(kind_and_adapter: tuple[str, ChatAdapter]) -> None:
    _, adapter = kind_and_adapter
    first = await adapter.complete(_ask("sandbox-tools", tools=True))
    assert first.finish_reason == "tool_calls"
    assert [c.name for c in first.tool_calls] == ["get_weather"]
    call = first.tool_calls[0]
    arguments = json.loads(call.arguments)
    assert isinstance(arguments.get("city"), str), call.arguments  # built from the schema

    streamed = await _collect(adapter.stream(_ask("sandbox-tools", tools=True)))
    assert _joined_calls(streamed) == first.tool_calls
    assert streamed[-1].finish_reason == "tool_calls"

    follow_up = ChatRequest(
        model="sandbox-tools",
        messages=[
            Message(role="user", content=PROMPT),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", tool_call_id=call.id, content="sunny, 21 degrees"),
        ],
        tools=[WEATHER],
    )
    answer = await adapter.complete(follow_up)
    assert answer.text == "Tool result: sunny, 21 degrees"
    assert answer.finish_reason == "stop"


async def test_usage_is_exactly_what_the_sandbox_reported(
    kind_and_adapter: tuple[str, ChatAdapter], sandboxes: SandboxSet
) -> None:
    kind, adapter = kind_and_adapter
    model = "sandbox-usage"
    await _script(sandboxes, kind, model=model, cached_input_tokens=4, cache_write_tokens=3)
    native = await _native_usage(sandboxes, kind, model)
    result = await adapter.complete(_ask(model))
    chunks = await _collect(adapter.stream(_ask(model)))
    assert result.usage == native
    assert chunks[-1].usage == native
    assert native.cached_input_tokens == 4 and native.output_tokens > 0
    if kind != "google":  # Gemini reports no cache writes
        assert native.cache_write_tokens == 3


async def _native_usage(sandboxes: SandboxSet, kind: str, model: str) -> Usage:
    """The same question asked over plain HTTP, and its usage normalised by the documented rule:
    Anthropic's three prompt parts are added up; OpenAI and Gemini count cache tokens inside."""
    root = sandboxes.root_url(kind)
    async with httpx.AsyncClient() as http:
        if kind == "anthropic":
            body = {
                "model": model,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": PROMPT}],
            }
            u = (await http.post(f"{root}/v1/messages", json=body)).json()["usage"]
            read, written = u["cache_read_input_tokens"], u["cache_creation_input_tokens"]
            return Usage(
                input_tokens=u["input_tokens"] + read + written,
                output_tokens=u["output_tokens"],
                cached_input_tokens=read,
                cache_write_tokens=written,
            )
        if kind == "google":
            body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
            body["generationConfig"] = {"maxOutputTokens": 200}
            url = f"{root}/v1beta/models/{model}:generateContent"
            u = (await http.post(url, json=body)).json()["usageMetadata"]
            return Usage(
                input_tokens=u["promptTokenCount"],
                output_tokens=u["candidatesTokenCount"],
                cached_input_tokens=u.get("cachedContentTokenCount", 0),
            )
        body = {
            "model": model,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        u = (await http.post(f"{root}/v1/chat/completions", json=body)).json()["usage"]
        details = u.get("prompt_tokens_details") or {}
        return Usage(
            input_tokens=u["prompt_tokens"],
            output_tokens=u["completion_tokens"],
            cached_input_tokens=details.get("cached_tokens", 0),
            cache_write_tokens=details.get("cache_write_tokens", 0),
        )


@pytest.mark.parametrize("kind", ["openai", "google"])
async def test_embeddings(sandboxes: SandboxSet, kind: str) -> None:
    adapter = await _adapter(sandboxes, kind)
    try:
        result = await adapter.embed(
            EmbeddingRequest(model="sandbox-embed", inputs=["a cat", "a dog"], dimensions=8)
        )
    finally:
        await adapter.aclose()
    assert [len(v) for v in result.vectors] == [8, 8]
    assert result.vectors[0] != result.vectors[1]


# --- faults ---------------------------------------------------------------------------------------

# fault → (error class, HTTP status it carries); None: no status (a transport-level failure).
FAULTS: dict[str, tuple[type[errors.ProviderError], int | None]] = {
    "http_500": (errors.ProviderServerError, 500),
    "http_503": (errors.ProviderServerError, 503),
    "overloaded": (errors.ProviderServerError, 503),  # 529 at Anthropic
    "http_429": (errors.RateLimited, 429),
    "quota_exhausted": (errors.RateLimited, 429),
    "http_401": (errors.AuthenticationFailed, 401),
    "http_400": (errors.CallerError, 400),
    "context_length": (errors.ContextLengthExceeded, 400),
    "malformed_json": (errors.MalformedResponse, None),
    "hang": (errors.ProviderTimeout, None),
}


@pytest.mark.parametrize("call", ["complete", "stream"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_scripted_faults_map_to_their_exception(
    sandboxes: SandboxSet, kind: str, fault: str, call: str
) -> None:
    expected, status = FAULTS[fault]
    if kind == "anthropic" and fault == "overloaded":
        status = 529
    model = f"sandbox-{fault}"
    await _script(sandboxes, kind, model=model, fault=fault, times=1, retry_after_s=2)
    adapter = await _adapter(sandboxes, kind, SHORT if fault == "hang" else TIMEOUTS)
    try:
        with pytest.raises(errors.ProviderError) as caught:
            if call == "complete":
                await adapter.complete(_ask(model))
            else:
                await _collect(adapter.stream(_ask(model)))
        error = caught.value
        assert type(error) is expected, f"{type(error).__name__}: {error}"
        assert error.status == status
        assert error.provider == f"sandbox-{kind}"
        assert SECRET not in str(error) and SECRET not in repr(error.args)
        if fault == "http_429":
            assert (error.retry_after_s, error.quota_exhausted) == (2.0, False)  # type: ignore[attr-defined]
        if fault == "quota_exhausted":
            assert error.quota_exhausted is True  # type: ignore[attr-defined]
        assert await _requests_seen(sandboxes, kind, model) == 1  # no SDK retry
    finally:
        await adapter.aclose()
    # The fault was scripted once: the next call is answered.
    adapter = await _adapter(sandboxes, kind)
    try:
        assert (await adapter.complete(_ask(model))).text
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cut_stream_raises_and_never_ends_quietly(sandboxes: SandboxSet, kind: str) -> None:
    adapter = await _adapter(sandboxes, kind)
    try:
        for n in (0, 1, 2, 3):
            model = f"sandbox-cut-{n}"
            await _script(sandboxes, kind, model=model, fault="cut_stream_after_n_chunks", n=n)
            with pytest.raises(errors.ProviderError) as caught:
                await _collect(adapter.stream(_ask(model)))
            # Before any event the connection just closed; after one, the stream was cut.
            assert isinstance(caught.value, errors.StreamInterrupted | errors.ProviderUnavailable)
            if n >= 2:
                assert type(caught.value) is errors.StreamInterrupted
            assert SECRET not in str(caught.value)
        # A whole answer cut halfway through its body: the connection dropped.
        with pytest.raises(errors.ProviderUnavailable):
            await adapter.complete(_ask("sandbox-cut-3"))
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_slow_first_token_is_streamed_whole(sandboxes: SandboxSet, kind: str) -> None:
    """The first-token deadline is the fail-over loop's (tests/serve_app/routing/test_deadlines.py):
    an adapter waits for a slow first token as long as its transport allows, and answers whole."""
    model = "sandbox-slow"
    await _script(sandboxes, kind, model=model, fault="slow_first_token", ttft_ms=300, times=2)
    adapter = await _adapter(sandboxes, kind, Timeouts(connect_s=2, total_s=10))
    try:
        chunks = await _collect(adapter.stream(_ask(model)))
        assert "".join(c.text for c in chunks) and chunks[-1].finish_reason == "stop"
        result: ChatResult = await adapter.complete(_ask(model))
        assert result.text
    finally:
        await adapter.aclose()
