"""The Gemini sandbox, driven by the official google-genai SDK over loopback HTTP."""

from __future__ import annotations

import math

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from deployments.sandbox import SandboxSet
from tests.deployments.sandbox.helpers import Control

MODEL = "gemini-2.5-flash"
CONTENTS = "Name three rivers please"  # 4 words
CONFIG = types.GenerateContentConfig(system_instruction="You are terse.")  # 3 words
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city.",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "city": types.Schema(type=types.Type.STRING),
            "days": types.Schema(type=types.Type.INTEGER),
            "metric": types.Schema(type=types.Type.BOOLEAN),
        },
        required=["city", "days", "metric"],
    ),
)
TOOL_CONFIG = types.GenerateContentConfig(
    tools=[types.Tool(function_declarations=[WEATHER])],
    # The SDK would otherwise call the function itself; the caller here is the gateway.
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)

try:  # google-genai's async client reads with aiohttp when it is installed, else httpx
    import aiohttp

    _TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, httpx.TransportError)
except ImportError:  # pragma: no cover
    _TRANSPORT_ERRORS = (httpx.TransportError,)

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the clients live on it


@pytest.mark.asyncio
async def test_plain_answer_with_usage(genai_client: genai.Client) -> None:
    first = await genai_client.aio.models.generate_content(
        model=MODEL, contents=CONTENTS, config=CONFIG
    )
    second = await genai_client.aio.models.generate_content(
        model=MODEL, contents=CONTENTS, config=CONFIG
    )

    assert first.text and first.text == second.text
    assert len(first.text.split()) == 12
    assert first.candidates and first.candidates[0].finish_reason == types.FinishReason.STOP
    usage = first.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == 7  # the system instruction counts
    assert usage.candidates_token_count == 12
    assert usage.total_token_count == 19
    assert usage.cached_content_token_count is None
    assert first.model_version == MODEL


@pytest.mark.asyncio
async def test_stream_concatenates_to_the_plain_answer(genai_client: genai.Client) -> None:
    plain = await genai_client.aio.models.generate_content(
        model=MODEL, contents=CONTENTS, config=CONFIG
    )
    chunks = [
        chunk
        async for chunk in await genai_client.aio.models.generate_content_stream(
            model=MODEL, contents=CONTENTS, config=CONFIG
        )
    ]
    assert len(chunks) == 12
    assert "".join(c.text or "" for c in chunks) == plain.text
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert last.usage_metadata == plain.usage_metadata


@pytest.mark.asyncio
async def test_v1beta_is_served_too(sandboxes: SandboxSet) -> None:
    client = genai.Client(
        api_key="sandbox-key",
        http_options=types.HttpOptions(base_url=sandboxes.google_url, api_version="v1beta"),
    )
    try:
        result = await client.aio.models.generate_content(model=MODEL, contents=CONTENTS)
    finally:
        await client.aio.aclose()
    assert result.text


@pytest.mark.asyncio
async def test_cached_tokens_and_max_tokens(control: Control, genai_client: genai.Client) -> None:
    await control.script("google", model=MODEL, cached_input_tokens=3)
    result = await genai_client.aio.models.generate_content(
        model=MODEL,
        contents=CONTENTS,
        config=types.GenerateContentConfig(
            system_instruction="You are terse.", max_output_tokens=5
        ),
    )
    assert result.usage_metadata is not None
    assert result.usage_metadata.cached_content_token_count == 3
    assert result.usage_metadata.prompt_token_count == 7
    assert result.usage_metadata.candidates_token_count == 5
    assert result.candidates and result.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


@pytest.mark.asyncio
async def test_function_call_then_function_response(genai_client: genai.Client) -> None:
    result = await genai_client.aio.models.generate_content(
        model=MODEL, contents=CONTENTS, config=TOOL_CONFIG
    )
    assert result.function_calls is not None
    (call,) = result.function_calls
    assert call.name == "get_weather"
    assert call.args == {"city": "sandbox", "days": 1, "metric": True}
    assert result.candidates and result.candidates[0].finish_reason == types.FinishReason.STOP

    streamed = [
        chunk
        async for chunk in await genai_client.aio.models.generate_content_stream(
            model=MODEL, contents=CONTENTS, config=TOOL_CONFIG
        )
    ]
    assert [c.function_calls for c in streamed] == [result.function_calls]

    history = [
        types.Content(role="user", parts=[types.Part.from_text(text=CONTENTS)]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name="get_weather", response={"result": "Sunny and 21 degrees"}
                )
            ],
        ),
    ]
    answer = await genai_client.aio.models.generate_content(
        model=MODEL, contents=history, config=TOOL_CONFIG
    )
    assert answer.text == "Tool result: Sunny and 21 degrees"


@pytest.mark.asyncio
async def test_function_declared_with_a_json_schema(genai_client: genai.Client) -> None:
    # google-genai sends this one field in snake_case (`parameters_json_schema`).
    declaration = types.FunctionDeclaration(
        name="lookup",
        parameters_json_schema={
            "type": "object",
            "properties": {"term": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["term", "limit"],
        },
    )
    result = await genai_client.aio.models.generate_content(
        model=MODEL,
        contents=CONTENTS,
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[declaration])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert result.function_calls is not None
    assert [(c.name, c.args) for c in result.function_calls] == [
        ("lookup", {"term": "sandbox", "limit": 1})
    ]


@pytest.mark.asyncio
async def test_json_schema_output(genai_client: genai.Client) -> None:
    result = await genai_client.aio.models.generate_content(
        model=MODEL,
        contents=CONTENTS,
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema={
                "type": "object",
                "properties": {"rivers": {"type": "array", "items": {"type": "string"}}},
                "required": ["rivers"],
            },
        ),
    )
    assert result.parsed == {"rivers": ["sandbox"]}


@pytest.mark.asyncio
async def test_embeddings(genai_client: genai.Client) -> None:
    result = await genai_client.aio.models.embed_content(
        model="gemini-embedding-001", contents=["a river", "a lake", "a river"]
    )
    assert result.embeddings is not None
    vectors = [e.values or [] for e in result.embeddings]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-9)

    sized = await genai_client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents="a river",
        config=types.EmbedContentConfig(output_dimensionality=32),
    )
    assert sized.embeddings and len(sized.embeddings[0].values or []) == 32


@pytest.mark.asyncio
async def test_count_tokens(genai_client: genai.Client) -> None:
    counted = await genai_client.aio.models.count_tokens(model=MODEL, contents=CONTENTS)
    assert counted.total_tokens == 4


# --- faults -------------------------------------------------------------------------------------

ERROR_FAULTS = [
    ("http_500", genai_errors.ServerError, 500, "INTERNAL"),
    ("http_503", genai_errors.ServerError, 503, "UNAVAILABLE"),
    ("http_429", genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("quota_exhausted", genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("http_401", genai_errors.ClientError, 401, "UNAUTHENTICATED"),
    ("http_400", genai_errors.ClientError, 400, "INVALID_ARGUMENT"),
    ("context_length", genai_errors.ClientError, 400, "INVALID_ARGUMENT"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "error_class", "code", "status"), ERROR_FAULTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_faults_raise_the_sdk_exception(
    control: Control,
    genai_client: genai.Client,
    fault: str,
    error_class: type[genai_errors.APIError],
    code: int,
    status: str,
    stream: bool,
) -> None:
    await control.script("google", model=MODEL, fault=fault, times=1)
    with pytest.raises(error_class) as caught:
        if stream:
            async for _ in await genai_client.aio.models.generate_content_stream(
                model=MODEL, contents=CONTENTS
            ):
                pass
        else:
            await genai_client.aio.models.generate_content(model=MODEL, contents=CONTENTS)
    assert caught.value.code == code
    assert caught.value.status == status
    details = caught.value.details["error"].get("details", [])
    if fault == "quota_exhausted":
        assert details[0]["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    if fault == "context_length":
        assert caught.value.message is not None
        assert caught.value.message.startswith("The input token count (8196) exceeds the maximum")
    await genai_client.aio.models.generate_content(model=MODEL, contents=CONTENTS)


@pytest.mark.asyncio
async def test_stats_and_reset(
    control: Control, sandboxes: SandboxSet, genai_client: genai.Client
) -> None:
    await control.script("google", model=MODEL, fault="http_500", times=1)
    with pytest.raises(genai_errors.ServerError):
        await genai_client.aio.models.generate_content(model=MODEL, contents=CONTENTS)
    await genai_client.aio.models.generate_content(model=MODEL, contents=CONTENTS)
    assert await control.stats("google") == {"requests": {MODEL: 2}, "total": 2}

    async with httpx.AsyncClient() as http:
        (await http.post(f"{sandboxes.root_url('google')}/_sandbox/reset")).raise_for_status()
    assert await control.stats("google") == {"requests": {}, "total": 0}


@pytest.mark.asyncio
async def test_cut_stream(control: Control, genai_client: genai.Client) -> None:
    await control.script("google", model=MODEL, fault="cut_stream_after_n_chunks", n=2, times=1)
    received = []
    with pytest.raises(_TRANSPORT_ERRORS):
        async for chunk in await genai_client.aio.models.generate_content_stream(
            model=MODEL, contents=CONTENTS
        ):
            received.append(chunk.text)
    assert len(received) == 2


@pytest.mark.asyncio
async def test_hang(control: Control, sandboxes: SandboxSet) -> None:
    await control.script("google", model=MODEL, fault="hang", times=1)
    client = genai.Client(
        api_key="sandbox-key",
        http_options=types.HttpOptions(base_url=sandboxes.google_url, timeout=300),
    )
    try:
        with pytest.raises(TimeoutError):  # aiohttp's and asyncio's timeouts are TimeoutErrors
            await client.aio.models.generate_content(model=MODEL, contents=CONTENTS)
    finally:
        await client.aio.aclose()
