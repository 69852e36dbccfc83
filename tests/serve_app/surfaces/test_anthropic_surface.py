"""The Anthropic surface, driven by the official `anthropic` SDK over httpx's ASGI transport: the
Ingress's own app around a gateway over scripted in-process backends, no Ray. The cluster test
(tests/integration/test_anthropic_api.py) covers the same routes over the sandbox providers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from fastapi import FastAPI

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from deployments.errors import ProviderServerError
from serve_app.routing.counting import ESTIMATE
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from serve_app.surfaces import anthropic as surface
from serve_app.surfaces.http_api import HttpApi
from serve_app.surfaces.limits import RequestLimits
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends, server_error
from tests.serve_app.surfaces.test_http_api import QuietReplica

CHAIN_OF_SMART = ("alpha/a1", "beta/b1", "local/l1")
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
HELLO = [{"role": "user", "content": "hi there"}]
PROMPT = Usage(input_tokens=40, output_tokens=6, cached_input_tokens=30, cache_write_tokens=4)


@dataclass
class ToolBackends(ScriptedBackends):
    """`ScriptedBackends`, plus: offered tools, it calls the first with `{"city": "Paris"}`
    (streamed in two pieces); answering a tool result, it quotes it. Usage is `PROMPT`'s."""

    def _tool_call(self, request: ChatRequest) -> ToolCall | None:
        last = request.messages[-1]
        if not request.tools or last.role == "tool":
            return None
        return ToolCall(id="call_7", name=request.tools[0].name, arguments='{"city": "Paris"}')

    def _text(self, request: ChatRequest) -> str:
        last = request.messages[-1]
        return f"tool said {last.text()}" if last.role == "tool" else f"hello from {request.model}"

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        await super().complete(candidate, request)  # records the call, raises a scripted failure
        call = self._tool_call(request)
        return ChatResult(
            text="" if call else self._text(request),
            tool_calls=[call] if call else [],
            finish_reason="tool_calls" if call else "stop",
            usage=PROMPT,
            provider_model=request.model,
        )

    async def _stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        call = self._tool_call(request)
        if call is None:
            async for chunk in super()._stream(candidate, request):
                yield chunk if chunk.usage is None else chunk.model_copy(update={"usage": PROMPT})
            return
        self.calls.append((candidate.model.id, request.model))
        self._maybe_fail(candidate)
        yield ChatChunk(tool_calls=[ToolCallDelta(index=0, id=call.id, name=call.name)])
        yield ChatChunk(tool_calls=[ToolCallDelta(index=0, arguments='{"city": ')])
        yield ChatChunk(tool_calls=[ToolCallDelta(index=0, arguments='"Paris"}')])
        yield ChatChunk(finish_reason="tool_calls", usage=PROMPT)


@pytest.fixture
def backends() -> ToolBackends:
    return ToolBackends()


@pytest.fixture
def ledger() -> RecordingLedger:
    return RecordingLedger()


@pytest.fixture
def app(backends: ToolBackends, ledger: RecordingLedger) -> FastAPI:
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), ledger)
    return served(HttpApi(gateway, QuietReplica()))


def served(api: HttpApi) -> FastAPI:
    return api.asgi_app()  # its routes include the Anthropic surface's (`add_routes`)


@pytest.fixture
async def sdk(app: FastAPI) -> AsyncIterator[anthropic.AsyncAnthropic]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport) as http:
        yield anthropic.AsyncAnthropic(
            api_key="sk-ant-test", base_url="http://switchyard", http_client=http, max_retries=0
        )


@pytest.fixture
async def raw(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        yield client


def fail_everywhere(backends: ScriptedBackends, status: int) -> None:
    for model in CHAIN_OF_SMART:
        error = ProviderServerError("down", provider=model.split("/")[0], status=status)
        backends.failures[model] = [error]


# --- answers ------------------------------------------------------------------------------------


async def test_a_shortcut_answers_as_a_message_with_anthropic_usage(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    raw = await sdk.messages.with_raw_response.create(model="smart", max_tokens=100, messages=HELLO)
    message = await raw.parse()
    assert message.model == "alpha/a1"
    assert message.role == "assistant" and message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "hello from a1"  # type: ignore[union-attr]
    # Anthropic's convention: input_tokens is the prompt less what the cache read and wrote.
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens) == (6, 30)
    assert (usage.cache_creation_input_tokens, usage.output_tokens) == (4, 6)
    assert raw.headers["x-switchyard-model"] == "alpha/a1"
    assert message.id == f"msg_{raw.headers['x-switchyard-call-id']}"


async def test_streamed_text_and_final_message_match_the_whole_answer(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    whole = await sdk.messages.create(model="beta/b1", max_tokens=100, messages=HELLO)
    async with sdk.messages.stream(model="beta/b1", max_tokens=100, messages=HELLO) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == whole.content[0].text == "hello from b1"  # type: ignore[union-attr]
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [
        ("text", "hello from b1")
    ]
    assert final.stop_reason == "end_turn" and final.model == "beta/b1"
    assert final.usage.input_tokens == whole.usage.input_tokens == 6
    assert final.usage.cache_read_input_tokens == 30
    assert final.usage.output_tokens == 6


async def test_the_stream_is_anthropics_event_sequence(raw: httpx.AsyncClient) -> None:
    response = await raw.post(
        "/v1/messages", json={"model": "smart", "max_tokens": 50, "messages": HELLO, "stream": True}
    )
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
        surface.ROUTE_EVENT,
    ]
    route = json.loads(response.text.splitlines()[-2].removeprefix("data: "))["switchyard"]
    assert route["model"] == "alpha/a1" and route["usage"]["input_tokens"] == 40


async def test_a_tool_use_round_trips(sdk: anthropic.AsyncAnthropic) -> None:
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    first = await sdk.messages.create(
        model="smart",
        max_tokens=100,
        messages=ask,
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "Paris"}
    reply = [
        *ask,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}],
        },
    ]
    second = await sdk.messages.create(
        model="smart",
        max_tokens=100,
        messages=reply,
        tools=[WEATHER],  # type: ignore[arg-type,list-item]
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "tool said sunny, 21C"  # type: ignore[union-attr]


async def test_a_streamed_tool_use_arrives_whole_in_the_final_message(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    async with sdk.messages.stream(
        model="smart",
        max_tokens=100,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (call,) = final.content
    assert call.type == "tool_use" and call.id == "call_7" and call.input == {"city": "Paris"}


async def test_the_backends_get_the_call_in_canonical_form(
    raw: httpx.AsyncClient, backends: ToolBackends
) -> None:
    seen: list[ChatRequest] = []
    complete = backends.complete

    async def spy(candidate: Candidate, request: ChatRequest) -> ChatResult:
        seen.append(request)
        return await complete(candidate, request)

    backends.complete = spy  # type: ignore[method-assign]
    body = {
        "model": "smart",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief. "}, {"type": "text", "text": "Be kind."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look:"}]},
            {"role": "assistant", "content": "What?"},
            {"role": "user", "content": [{"type": "text", "text": "This."}]},
        ],
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
        "metadata": {"user_id": "user_abc_session_123"},
    }
    response = await raw.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    (request,) = seen
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[0].text() == "Be brief. Be kind."
    assert request.messages[3].content == "This."
    assert (request.stop, request.temperature, request.top_p) == (["END"], 0.2, 0.9)
    assert request.max_tokens == 64 and request.tool_choice == "required"
    assert request.tools is not None and request.tools[0].parameters == WEATHER["input_schema"]
    assert "x-switchyard-dropped" not in response.headers


async def test_what_the_call_cannot_carry_is_named_in_a_header_never_refused(
    raw: httpx.AsyncClient,
) -> None:
    body = {
        "model": "smart",
        "max_tokens": 64,
        "top_k": 5,
        "system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}],
        "messages": HELLO,
    }
    response = await raw.post("/v1/messages", json=body)
    assert response.status_code == 200
    assert response.headers["x-switchyard-dropped"] == "cache_control, top_k"


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_model_is_given_what_another_would_lose(
    raw: httpx.AsyncClient, backends: ToolBackends, stream: bool
) -> None:
    # alpha/a1 (an OpenAI-protocol model) fails; beta/b1, an Anthropic model, serves the call.
    backends.failures["alpha/a1"] = [server_error("alpha")]
    requests: list[ChatRequest] = []
    complete, open_stream = backends.complete, backends.stream

    async def complete_spy(candidate: Candidate, request: ChatRequest) -> ChatResult:
        requests.append(request)
        return await complete(candidate, request)

    def stream_spy(candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        requests.append(request)
        return open_stream(candidate, request)

    backends.complete = complete_spy  # type: ignore[method-assign]
    backends.stream = stream_spy  # type: ignore[method-assign]
    system = [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}]
    body = {"model": "smart", "max_tokens": 64, "top_k": 5, "system": system, "messages": HELLO}
    response = await raw.post("/v1/messages", json={**body, "stream": stream})

    assert response.status_code == 200
    assert response.headers["x-switchyard-model"] == "beta/b1"
    assert response.headers["x-switchyard-dropped"] == "top_k"  # the SDK takes no top_k
    extras = requests[-1].anthropic_extras
    assert extras is not None and extras.system == system


async def test_switchyard_options_come_from_the_same_headers_as_on_the_openai_surface(
    raw: httpx.AsyncClient, ledger: RecordingLedger
) -> None:
    response = await raw.post(
        "/v1/messages",
        json={"model": "smart", "max_tokens": 10, "messages": HELLO},
        headers={"x-switchyard-tenant": "acme", "x-switchyard-agent": "coder"},
    )
    assert response.status_code == 200
    (record,) = ledger.records
    assert (record.tenant, record.agent) == ("acme", "coder")


async def test_a_failed_over_message_lists_both_attempts(
    sdk: anthropic.AsyncAnthropic, backends: ToolBackends
) -> None:
    backends.failures["alpha/a1"] = [
        ProviderServerError("overloaded", provider="alpha", status=529)
    ]
    raw = await sdk.messages.with_raw_response.create(model="smart", max_tokens=10, messages=HELLO)
    message = await raw.parse()
    assert message.model == "beta/b1"
    attempts = (message.model_extra or {})["switchyard"]["attempts"]
    assert [(a["model"], a["status"]) for a in attempts] == [("alpha/a1", 529), ("beta/b1", None)]
    assert raw.headers["x-switchyard-attempts"] == "2"


# --- errors -------------------------------------------------------------------------------------


async def test_an_unknown_model_raises_the_sdks_not_found_error(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await sdk.messages.create(model="smrt", max_tokens=10, messages=HELLO)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "did you mean 'smart'" in caught.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "smart", "messages": HELLO}, "max_tokens"),
        ({"model": "smart", "max_tokens": 10, "messages": []}, "messages"),
        (
            {"model": "smart", "max_tokens": 10, "messages": HELLO, "temperature": 1.5},
            "temperature",
        ),
        (
            {
                "model": "smart",
                "max_tokens": 10,
                "messages": HELLO,
                "tool_choice": {"type": "tool"},
            },
            "tool_choice.name",
        ),
        (
            {
                "model": "smart",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "tool_result"}]}],
            },
            "messages.0.content.0.tool_use_id",
        ),
    ],
)
async def test_a_malformed_body_is_an_invalid_request_error_naming_the_field(
    raw: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await raw.post("/v1/messages", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert field in error["error"]["message"]


async def test_a_body_too_large_is_request_too_large(backends: ToolBackends) -> None:
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), RecordingLedger())
    api = HttpApi(gateway, QuietReplica(), RequestLimits(max_body_bytes=100))
    transport = httpx2.ASGITransport(app=served(api))
    async with httpx2.AsyncClient(transport=transport) as http:
        sdk = anthropic.AsyncAnthropic(
            api_key="k", base_url="http://switchyard", http_client=http, max_retries=0
        )
        with pytest.raises(anthropic.ContentTooLargeError) as caught:
            await sdk.messages.create(
                model="smart", max_tokens=10, messages=[{"role": "user", "content": "x" * 200}]
            )
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "sdk_error", "kind"),
    [
        (529, anthropic.OverloadedError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
async def test_every_candidate_failing_raises_the_sdks_class(
    sdk: anthropic.AsyncAnthropic,
    backends: ToolBackends,
    status: int,
    sdk_error: type[anthropic.APIStatusError],
    kind: str,
) -> None:
    fail_everywhere(backends, status)
    with pytest.raises(sdk_error) as caught:
        await sdk.messages.create(model="smart", max_tokens=10, messages=HELLO)
    assert caught.value.status_code == status
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == kind and error["switchyard_error"] == "AllCandidatesFailed"
    assert len(caught.value.body["switchyard"]["attempts"]) == 3  # type: ignore[index]


async def test_a_failure_after_content_ends_the_stream_with_an_error_event(
    sdk: anthropic.AsyncAnthropic, backends: ToolBackends
) -> None:
    cut = ProviderServerError("overloaded mid-stream", provider="alpha", status=529)
    backends.fail_after_chunks["alpha/a1"] = (1, cut)
    pieces: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with sdk.messages.stream(model="smart", max_tokens=10, messages=HELLO) as stream:
            async for piece in stream.text_stream:
                pieces.append(piece)
    assert pieces == ["hello "]
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "overloaded mid-stream" in caught.value.message


# --- token counting -----------------------------------------------------------------------------


@dataclass
class CountingBackends(ToolBackends):
    """Provider `beta` (an Anthropic one in the mini directory) counts 42 for any prompt; the
    others cannot count, as a proxy whose provider has no counting API."""

    counted: list[str] = field(default_factory=list)

    async def count_tokens(self, candidate: Candidate, request: ChatRequest) -> int | None:
        self.counted.append(request.model)
        return 42 if candidate.model.provider == "beta" else None


async def test_count_tokens_is_exact_where_the_provider_counts() -> None:
    counting = CountingBackends()
    app = served(
        HttpApi(
            Gateway(mini_directory(), counting, RecordingHealth(), RecordingLedger()),
            QuietReplica(),
        )
    )
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        sdk = anthropic.AsyncAnthropic(api_key="k", base_url="http://switchyard", http_client=http)
        raw = await sdk.messages.with_raw_response.count_tokens(model="beta/b1", messages=HELLO)
        exact = await raw.parse()
        estimated = await sdk.messages.with_raw_response.count_tokens(
            model="smart",
            messages=HELLO,
            tools=[WEATHER],  # type: ignore[list-item]
        )
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.count_tokens(model="smrt", messages=HELLO)
    assert exact.input_tokens == 42 and raw.headers["x-switchyard-token-count"] == "exact"
    assert counting.counted == ["b1", "a1"]  # the provider's own model name, as a call sends it
    assert estimated.headers["x-switchyard-token-count"] == "estimate"
    body = estimated.http_response.json()
    assert body["switchyard"] == {"model": "alpha/a1", "exact": False, "method": ESTIMATE}
    assert body["input_tokens"] > 0


async def test_count_tokens_without_a_counter_estimates(sdk: anthropic.AsyncAnthropic) -> None:
    raw = await sdk.messages.with_raw_response.count_tokens(model="beta/b1", messages=HELLO)
    assert raw.headers["x-switchyard-token-count"] == "estimate"
    assert (await raw.parse()).input_tokens == 6  # "hi there": 8 characters / 4 + 4 a message
