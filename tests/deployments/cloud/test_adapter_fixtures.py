"""The adapters parse the providers' documented responses (fixtures/, sources in its README) into
the expected canonical chunks, results, usage and errors, through the real SDKs over loopback HTTP.
"""

from __future__ import annotations

import json
import socket
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments import errors
from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    ImagePart,
    ImageURL,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from deployments.cloud import ChatAdapter, Timeouts, build_adapter
from tests.deployments.cloud.canned_server import Canned, CannedServer, sse_events

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "sk-test-SECRET123456"
TIMEOUTS = Timeouts(connect_s=2, total_s=5)
# Where each SDK's requests go under the server's root.
BASE_PATH = {"anthropic": "", "openai": "/v1", "openai-compatible": "/v1", "google": ""}


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    running = CannedServer()
    yield running
    running.close()


async def _adapter(kind: str, server: CannedServer, timeouts: Timeouts = TIMEOUTS) -> ChatAdapter:
    return build_adapter(kind, f"fixture-{kind}", server.url + BASE_PATH[kind], SECRET, timeouts)


@pytest.fixture(scope="module")
async def adapters(server: CannedServer) -> AsyncIterator[dict[str, ChatAdapter]]:
    built = {kind: await _adapter(kind, server) for kind in BASE_PATH}
    yield built
    for adapter in built.values():
        await adapter.aclose()


def _sse(name: str, cut: bool = False) -> Canned:
    return Canned(
        content_type="text/event-stream",
        pieces=sse_events((FIXTURES / name).read_text()),
        cut=cut,
    )


def _json(name: str) -> Canned:
    return Canned(body=(FIXTURES / name).read_bytes())


def _hello(model: str = "m") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content="Hello")])


async def _collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


def _joined_calls(chunks: list[ChatChunk]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
    return calls


# --- Anthropic ------------------------------------------------------------------------------------


async def test_anthropic_stream_with_cache_tokens_and_tool_use(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("anthropic_stream_tool_use.sse"))
    chunks = await _collect(adapters["anthropic"].stream(_hello()))
    text = "".join(c.text for c in chunks)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    assert _joined_calls(chunks) == {
        0: {
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "arguments": '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
        }
    }
    # The tool call's first piece names it; its arguments follow in order.
    first_call = next(c for c in chunks if c.tool_calls)
    assert first_call.tool_calls == [
        ToolCallDelta(index=0, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather")
    ]
    last = chunks[-1]
    assert last == ChatChunk(
        finish_reason="tool_calls",
        usage=Usage(
            input_tokens=472 + 3000 + 1800,
            output_tokens=89,
            cached_input_tokens=3000,
            cache_write_tokens=1800,
            cache_write_1h_tokens=800,
        ),
        provider_model="claude-opus-4-20250514",
    )
    assert all(c.usage is None and c.finish_reason is None for c in chunks[:-1])


async def test_anthropic_message_usage_is_normalised(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_json("anthropic_message.json"))
    result = await adapters["anthropic"].complete(_hello())
    assert result == ChatResult(
        text="Hello!",
        finish_reason="stop",
        usage=Usage(
            input_tokens=12 + 1024 + 248,
            output_tokens=6,
            cached_input_tokens=1024,
            cache_write_tokens=248,
        ),
        provider_model="claude-opus-4-20250514",
        provider_request_id="msg_01XFDUDYJgAACzvnptvVoYEL",
    )


async def test_anthropic_error_event_inside_a_stream_raises(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("anthropic_stream_overloaded.sse"))
    seen: list[ChatChunk] = []
    with pytest.raises(errors.ProviderServerError) as caught:
        async for chunk in adapters["anthropic"].stream(_hello()):
            seen.append(chunk)
    assert [c.text for c in seen] == ["Hello"]
    assert caught.value.status == 529


async def test_anthropic_request_translation(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_json("anthropic_message.json"))
    await adapters["anthropic"].complete(_rich_request())
    body = server.received[0].body
    assert server.received[0].path == "/v1/messages"
    assert body["system"] == "Be brief.\n\nAnswer in metric units."
    assert body["max_tokens"] == 300
    assert body["stop_sequences"] == ["END"]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris? Compare these:"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C, sunny"}],
        },
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": WEATHER_SCHEMA,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert "temperature" not in body  # this Messages API takes no sampling parameters


# --- OpenAI ---------------------------------------------------------------------------------------


async def test_openai_stream_usage_arrives_in_the_final_chunk(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("openai_stream_usage.sse"))
    chunks = await _collect(adapters["openai"].stream(_hello()))
    assert [c.text for c in chunks[:-1]] == ["Hello", "!", " How can I help?"]
    assert chunks[-1] == ChatChunk(
        finish_reason="stop",
        usage=Usage(input_tokens=2006, output_tokens=300, cached_input_tokens=1920),
        provider_model="gpt-4o-mini",
    )
    assert server.received[0].body["stream_options"] == {"include_usage": True}


async def test_openai_error_object_inside_a_stream_raises(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    events = sse_events((FIXTURES / "openai_stream_usage.sse").read_text())[:2]
    error = {"error": {"message": "The server had an error.", "type": "server_error", "code": None}}
    events.append(f"data: {json.dumps(error)}\n\n".encode())
    server.respond(Canned(content_type="text/event-stream", pieces=events))
    with pytest.raises(errors.ProviderServerError):
        await _collect(adapters["openai"].stream(_hello()))


async def test_openai_stream_tool_call_pieces(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("openai_stream_tool_calls.sse"))
    chunks = await _collect(adapters["openai"].stream(_hello()))
    assert _joined_calls(chunks) == {
        0: {
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "arguments": '{"location":"Paris, France"}',
        }
    }
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage == Usage(input_tokens=82, output_tokens=17)


async def test_openai_completion_with_cached_tokens(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_json("openai_completion.json"))
    result = await adapters["openai"].complete(_hello())
    assert result.text.startswith("The image shows a wooden boardwalk")
    assert result.usage == Usage(input_tokens=1117, output_tokens=46, cached_input_tokens=1024)
    assert (result.provider_model, result.provider_request_id) == (
        "gpt-4o-2024-08-06",
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    )


@pytest.mark.parametrize(
    ("kind", "max_field", "developer_role"),
    [
        ("openai", "max_completion_tokens", "developer"),
        ("openai-compatible", "max_tokens", "system"),
    ],
)
async def test_openai_request_translation(
    server: CannedServer,
    adapters: dict[str, ChatAdapter],
    kind: str,
    max_field: str,
    developer_role: str,
) -> None:
    server.respond(_json("openai_completion.json"))
    await adapters[kind].complete(_rich_request())
    received = server.received[0]
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {SECRET}"
    body = received.body
    assert body[max_field] == 300
    assert [m["role"] for m in body["messages"]] == [
        "system",
        developer_role,
        "user",
        "assistant",
        "tool",
    ]
    assert body["messages"][2]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    assert body["messages"][3]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert body["messages"][4] == {
        "role": "tool",
        "content": "18C, sunny",
        "tool_call_id": "call_1",
    }
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["temperature"] == 0.2
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
    }


# --- Gemini ---------------------------------------------------------------------------------------


async def test_gemini_stream_with_cached_tokens(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("gemini_stream.sse"))
    chunks = await _collect(adapters["google"].stream(_hello("gemini-2.5-flash")))
    assert [c.text for c in chunks[:-1]] == [
        "The",
        " sky is blue because of Rayleigh",
        " scattering.",
    ]
    assert chunks[-1] == ChatChunk(
        finish_reason="stop",
        usage=Usage(input_tokens=2100, output_tokens=9 + 22, cached_input_tokens=2048),
        provider_model="gemini-2.5-flash",
    )
    assert server.received[0].path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert server.received[0].query == "alt=sse"


async def test_gemini_function_call(server: CannedServer, adapters: dict[str, ChatAdapter]) -> None:
    server.respond(_json("gemini_function_call.json"))
    result = await adapters["google"].complete(_hello("gemini-2.5-flash"))
    assert result.tool_calls == [
        ToolCall(id="call_0", name="get_current_temperature", arguments='{"location": "London"}')
    ]
    assert result.finish_reason == "tool_calls"
    assert result.usage == Usage(input_tokens=92, output_tokens=16)
    assert result.provider_request_id == "Zb5QaeCnDoeV0-kP8tuV0Qc"


async def test_gemini_request_translation(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_json("gemini_function_call.json"))
    await adapters["google"].complete(_rich_request("gemini-2.5-flash"))
    received = server.received[0]
    assert received.headers["x-goog-api-key"] == SECRET
    body = received.body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief.\n\nAnswer in metric units."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    user_parts = body["contents"][0]["parts"]
    inline = user_parts[1]["inlineData"]
    assert inline["data"] == "iVBORw0KGgo="
    assert _either(inline, "mimeType") == "image/png"
    assert _either(user_parts[2]["fileData"], "fileUri") == "https://example.com/cat.jpg"
    assert body["contents"][1]["parts"][1] == {
        "functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}
    }
    assert body["contents"][2]["parts"] == [
        {
            "functionResponse": {
                "id": "call_1",
                "name": "get_weather",
                "response": {"result": "18C, sunny"},
            }
        }
    ]
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_weather"
    assert _either(declaration, "parametersJsonSchema") == WEATHER_SCHEMA
    assert body["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_weather"],
    }
    generation = body["generationConfig"]
    assert generation["maxOutputTokens"] == 300
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseJsonSchema"] == WEATHER_SCHEMA


def _either(body: dict[str, Any], camel: str) -> Any:
    """The SDK writes some nested names in snake case; the API reads both spellings."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return body[camel] if camel in body else body[snake]


# --- errors from documented bodies ----------------------------------------------------------------

ERROR_CASES = json.loads((FIXTURES / "errors.json").read_text())


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c["id"] for c in ERROR_CASES])
@pytest.mark.parametrize("call", ["complete", "stream"])
async def test_documented_errors_map_to_the_right_class(
    server: CannedServer, adapters: dict[str, ChatAdapter], case: dict[str, Any], call: str
) -> None:
    server.respond(
        Canned(
            status=case["status"],
            body=json.dumps(case["body"]).encode(),
            headers=case.get("headers", {}),
        )
    )
    adapter = adapters[case["kind"]]
    with pytest.raises(errors.ProviderError) as caught:
        if call == "complete":
            await adapter.complete(_hello())
        else:
            await _collect(adapter.stream(_hello()))
    error = caught.value
    expect = case["expect"]
    assert type(error).__name__ == expect["class"], str(error)
    assert error.status == case["status"]
    assert error.provider == f"fixture-{case['kind']}"
    for field in ("retry_after_s", "quota_exhausted"):
        if field in expect:
            assert getattr(error, field) == expect[field]
    assert SECRET not in str(error)
    # Raised `from None`: the SDK's error (which holds the request, key header included) is not
    # chained into the tracebacks that Ray logs and ships between processes.
    assert error.__cause__ is None and error.__suppress_context__
    assert SECRET not in "".join(traceback.format_exception(error))


# --- transport faults -----------------------------------------------------------------------------

CUT_FIXTURES = {
    "anthropic": "anthropic_stream_tool_use.sse",
    "openai": "openai_stream_usage.sse",
    "google": "gemini_stream.sse",
}


@pytest.mark.parametrize("kind", sorted(CUT_FIXTURES))
async def test_a_cut_stream_raises(
    server: CannedServer, adapters: dict[str, ChatAdapter], kind: str
) -> None:
    canned = _sse(CUT_FIXTURES[kind], cut=True)
    assert canned.pieces is not None
    canned.pieces = canned.pieces[:2]
    server.respond(canned)
    with pytest.raises(errors.StreamInterrupted):
        await _collect(adapters[kind].stream(_hello()))


@pytest.mark.parametrize("kind", sorted(CUT_FIXTURES))
async def test_a_stream_without_its_end_raises(
    server: CannedServer, adapters: dict[str, ChatAdapter], kind: str
) -> None:
    """The body ends cleanly, but before the terminal event: still not a whole answer."""
    canned = _sse(CUT_FIXTURES[kind])
    assert canned.pieces is not None
    canned.pieces = canned.pieces[:2]
    server.respond(canned)
    with pytest.raises(errors.StreamInterrupted):
        await _collect(adapters[kind].stream(_hello()))


@pytest.mark.parametrize("kind", sorted(BASE_PATH))
async def test_an_unparseable_body_is_malformed(
    server: CannedServer, adapters: dict[str, ChatAdapter], kind: str
) -> None:
    server.respond(Canned(body=b"{not json"))
    with pytest.raises(errors.MalformedResponse) as caught:
        await adapters[kind].complete(_hello())
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("kind", sorted(BASE_PATH))
async def test_a_refused_connection_is_unavailable(kind: str) -> None:
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}" + BASE_PATH[kind]
    adapter = build_adapter(kind, "nobody", url, SECRET, TIMEOUTS)
    try:
        with pytest.raises(errors.ProviderUnavailable):
            await adapter.complete(_hello())
        with pytest.raises(errors.ProviderUnavailable):
            await _collect(adapter.stream(_hello()))
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("kind", sorted(BASE_PATH))
async def test_total_timeout_bounds_a_whole_answer(server: CannedServer, kind: str) -> None:
    canned = _json("openai_completion.json")
    canned.first_piece_delay_s = 3.0
    canned.pieces = [canned.body]
    server.respond(canned)
    adapter = await _adapter(kind, server, Timeouts(connect_s=1, total_s=0.3))
    try:
        with pytest.raises(errors.ProviderTimeout):
            await adapter.complete(_hello())
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("kind", ["anthropic"])
async def test_no_embeddings_is_a_caller_error(adapters: dict[str, ChatAdapter], kind: str) -> None:
    with pytest.raises(errors.CallerError):
        await adapters[kind].embed(EmbeddingRequest(model="m", inputs=["x"]))


# --- shared request ---------------------------------------------------------------------------

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def _rich_request(model: str = "m") -> ChatRequest:
    """Every translation at once: system and developer text, images, a tool round trip."""
    return ChatRequest(
        model=model,
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="developer", content="Answer in metric units."),
            Message(
                role="user",
                content=[
                    TextPart(text="Weather in Paris? Compare these:"),
                    ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo=")),
                    ImagePart(image_url=ImageURL(url="https://example.com/cat.jpg")),
                ],
            ),
            Message(
                role="assistant",
                content="Let me look.",
                tool_calls=[
                    ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
                ],
            ),
            Message(role="tool", tool_call_id="call_1", content="18C, sunny"),
        ],
        temperature=0.2,
        max_tokens=300,
        stop=["END"],
        tools=[
            ToolSpec(name="get_weather", description="Current weather", parameters=WEATHER_SCHEMA)
        ],
        tool_choice="get_weather",
        response_format=ResponseFormat.model_validate(
            {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
            }
        ),
    )


# --- the provider's count before the end: what a stream cut short is billed from ---------------


async def test_anthropic_first_content_chunk_carries_message_starts_usage(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("anthropic_stream_tool_use.sse"))
    chunks = await _collect(adapters["anthropic"].stream(_hello()))
    content = [c for c in chunks if c.has_content()]
    # message_start's count: the whole prompt (cache parts included), 2 output tokens so far.
    assert content[0].usage_so_far == Usage(
        input_tokens=472 + 3000 + 1800,
        output_tokens=2,
        cached_input_tokens=3000,
        cache_write_tokens=1800,
        cache_write_1h_tokens=800,
    )
    assert all(c.usage_so_far is None for c in chunks[1:])


async def test_gemini_content_chunks_carry_the_count_so_far(
    server: CannedServer, adapters: dict[str, ChatAdapter]
) -> None:
    server.respond(_sse("gemini_stream.sse"))
    chunks = await _collect(adapters["google"].stream(_hello("gemini-2.5-flash")))
    assert [c.usage_so_far for c in chunks[:-1]] == [
        Usage(input_tokens=2100, cached_input_tokens=2048),
        Usage(input_tokens=2100, cached_input_tokens=2048),
        Usage(input_tokens=2100, output_tokens=9 + 22, cached_input_tokens=2048),
    ]
