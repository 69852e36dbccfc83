"""The OpenAI wire format of the Ingress: parse requests, render answers and stream chunks.

Requests are parsed leniently where OpenAI clients send fields Switchyard does not use (they are
ignored, as OpenAI-compatible servers do) and strictly where a field would change the answer and
cannot be honoured (`n > 1` is refused with a 400 naming the field).
Switchyard's own per-call options travel in an extension field, `switchyard`, that OpenAI clients
send with `extra_body={"switchyard": {...}}`, or in `X-Switchyard-*` headers.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    Message,
    ResponseFormat,
    ToolSpec,
    Usage,
)
from serve_app.routing.call import CallOptions, ChatCall, EmbeddingCall, Route


class WireError(ValueError):
    """The request body is not a valid call; the message names the field. Answered with 400."""


class _Function(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Tool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: _Function


class _SwitchyardOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = None
    agent: str | None = None
    privacy: Literal["any", "local"] | None = None
    first_token_s: float | None = Field(default=None, gt=0)


class _ChatBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    tools: list[_Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    n: int = 1
    user: str | None = None
    switchyard: _SwitchyardOptions | None = None


class _EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: str | list[str]
    dimensions: int | None = None
    user: str | None = None
    switchyard: _SwitchyardOptions | None = None


def _field_errors(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors()
    )


def _options(
    extension: _SwitchyardOptions | None, user: str | None, headers: dict[str, str]
) -> CallOptions:
    """Headers win over the body extension, which wins over OpenAI's `user` field."""
    extension = extension or _SwitchyardOptions()
    values: dict[str, Any] = {
        "tenant": headers.get("x-switchyard-tenant") or extension.tenant or user,
        "agent": headers.get("x-switchyard-agent") or extension.agent,
        "privacy": headers.get("x-switchyard-privacy") or extension.privacy,
        "first_token_s": headers.get("x-switchyard-first-token-s") or extension.first_token_s,
        "request_id": headers.get("x-request-id"),
    }
    try:
        return CallOptions(**{key: value for key, value in values.items() if value is not None})
    except ValidationError as error:
        raise WireError(f"invalid Switchyard option: {_field_errors(error)}") from None


def parse_chat(body: Any, headers: dict[str, str]) -> tuple[ChatCall, bool]:
    """The call a `/v1/chat/completions` body asks for, and whether it wants a stream."""
    try:
        wire = _ChatBody.model_validate(body)
        if wire.n != 1:
            raise WireError("n: only n=1 is supported")
        tool_choice = wire.tool_choice
        if isinstance(tool_choice, dict):
            tool_choice = tool_choice.get("function", {}).get("name")
        request = ChatRequest(
            model=wire.model,
            messages=[_message(message) for message in wire.messages],
            temperature=wire.temperature,
            top_p=wire.top_p,
            max_tokens=wire.max_completion_tokens or wire.max_tokens,
            stop=[wire.stop] if isinstance(wire.stop, str) else wire.stop,
            tools=[
                ToolSpec(
                    name=tool.function.name,
                    description=tool.function.description,
                    parameters=tool.function.parameters or {"type": "object", "properties": {}},
                )
                for tool in wire.tools
            ]
            if wire.tools
            else None,
            tool_choice=tool_choice,
            response_format=ResponseFormat.model_validate(wire.response_format)
            if wire.response_format
            else None,
            seed=wire.seed,
        )
    except ValidationError as error:
        raise WireError(f"invalid chat request: {_field_errors(error)}") from None
    options = _options(wire.switchyard, wire.user, headers)
    return ChatCall(name=wire.model, request=request, options=options), wire.stream


def _message(raw: dict[str, Any]) -> Message:
    """An OpenAI message; tool calls arrive nested under `function`."""
    calls = raw.get("tool_calls")
    if calls:
        raw = {
            **raw,
            "tool_calls": [
                {
                    "id": call.get("id"),
                    "name": call.get("function", {}).get("name"),
                    "arguments": call.get("function", {}).get("arguments", "{}"),
                }
                for call in calls
            ],
        }
    return Message.model_validate(raw)


def parse_embedding(body: Any, headers: dict[str, str]) -> EmbeddingCall:
    try:
        wire = _EmbeddingBody.model_validate(body)
        inputs = [wire.input] if isinstance(wire.input, str) else wire.input
        request = EmbeddingRequest(model=wire.model, inputs=inputs, dimensions=wire.dimensions)
    except ValidationError as error:
        raise WireError(f"invalid embeddings request: {_field_errors(error)}") from None
    options = _options(wire.switchyard, wire.user, headers)
    return EmbeddingCall(name=wire.model, request=request, options=options)


# --- answers ------------------------------------------------------------------------------------


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def route_field(route: Route) -> dict[str, Any]:
    """The `switchyard` field of an answer: OpenAI clients ignore it, people read it."""
    return route.model_dump(mode="json")


def route_headers(route: Route) -> dict[str, str]:
    return {
        "x-request-id": route.request_id,
        "x-switchyard-model": route.model or "",
        "x-switchyard-provider": route.provider or "",
        "x-switchyard-attempts": str(len(route.attempts)),
        **({"x-switchyard-notice": route.notice} if route.notice else {}),
    }


def chat_response(result: ChatResult, route: Route) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None}
    if result.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in result.tool_calls
        ]
    return {
        "id": f"chatcmpl-{route.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": route.model,
        "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason}],
        "usage": _usage(result.usage),
        "switchyard": route_field(route),
    }


def chunk_event(chunk: ChatChunk, route: Route, created: int) -> bytes:
    """One SSE event in OpenAI's `chat.completion.chunk` shape."""
    delta: dict[str, Any] = {}
    if chunk.text:
        delta["content"] = chunk.text
    if chunk.tool_calls:
        delta["tool_calls"] = [
            {
                "index": call.index,
                **({"id": call.id, "type": "function"} if call.id else {}),
                "function": {
                    **({"name": call.name} if call.name else {}),
                    "arguments": call.arguments,
                },
            }
            for call in chunk.tool_calls
        ]
    choices = []
    if delta or chunk.finish_reason:
        choices = [{"index": 0, "delta": delta, "finish_reason": chunk.finish_reason}]
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{route.request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": route.model,
        "choices": choices,
    }
    if chunk.usage is not None:
        payload["usage"] = _usage(chunk.usage)
    return sse(payload)


def role_event(route: Route, created: int) -> bytes:
    """OpenAI streams open with an empty assistant delta; some clients expect it."""
    return sse(
        {
            "id": f"chatcmpl-{route.request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": route.model,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
    )


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def embedding_response(result: EmbeddingResult, route: Route) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(result.vectors)
        ],
        "model": route.model,
        "usage": {
            "prompt_tokens": result.usage.input_tokens,
            "total_tokens": result.usage.input_tokens,
        },
        "switchyard": route_field(route),
    }


def error_body(message: str, kind: str, status: int, **extra: Any) -> dict[str, Any]:
    """OpenAI's error shape, so OpenAI clients raise their matching exception class."""
    return {"error": {"message": message, "type": kind, "code": status, **extra}}
