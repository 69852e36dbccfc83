"""The OpenAI chat-completions wire format ↔ Switchyard's canonical types, in plain dicts.

The one place that knows how OpenAI spells a request, an answer, a stream chunk, usage and an
error. Its users:

- the Ingress's OpenAI surface parses callers' bodies and renders answers with it;
- the HTTP entry points (`serve_app.client`) write request bodies and read chunks and errors back;
- the OpenAI cloud adapter builds the SDK's parameters and reads the SDK's answers (as dicts, via
  `model_dump()`);
- the local model hands vLLM's chat renderer OpenAI-style messages.

It lives in `deployments/`, beside `canonical.py`, because both `deployments/` and `serve_app/`
use it and `deployments/` never imports `serve_app/`. It imports no provider SDK: everything here is
dicts in, dicts out, so that the same code serves the gateway's own wire and the SDK's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments import errors
from deployments.canonical import (
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    Skipped,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)


class OpenAIFormatError(ValueError):
    """A body that is not a valid OpenAI request; the message names the field."""


# --- requests -----------------------------------------------------------------------------------


class _Function(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Tool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: _Function


class _CalledFunction(_Function):
    arguments: str | None = None


class _WireToolCall(_Tool):
    """A tool call in an assistant message of the caller's history."""

    id: str
    function: _CalledFunction


class _ToolCalls(BaseModel):
    tool_calls: list[_WireToolCall]


class _ChatBody(BaseModel):
    """The fields of a chat-completions body that change the answer; others are ignored, as
    OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
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


class _EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: str | list[str]
    dimensions: int | None = None


def field_errors(error: ValidationError, *, at: str = "") -> str:
    """Pydantic's errors as `field.path: message`, joined: what a 400 says. `at` is the path of
    the part that was validated (`messages.2`)."""
    return "; ".join(
        f"{'.'.join([at] * bool(at) + [str(part) for part in item['loc']]) or 'body'}: "
        f"{'Input should be an object' if item['type'] == 'model_type' else item['msg']}"
        for item in error.errors()
    )


class _FieldError(Exception):
    """A part of the body failed its validation; `str()` names the field path."""


def _validated(model: type[BaseModel], value: Any, at: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise _FieldError(field_errors(error, at=at)) from None


def chat_request_from_openai(body: Any) -> ChatRequest:
    """The canonical request a chat-completions body asks for. `n > 1` is refused by name: it
    would change the answer and cannot be honoured."""
    try:
        wire = _ChatBody.model_validate(body)
        if wire.n != 1:
            raise OpenAIFormatError("n: only n=1 is supported")
        tool_choice = wire.tool_choice
        if isinstance(tool_choice, dict):
            # `{"type": "function", "function": {"name": ...}}` forces that tool.
            tool_choice = _validated(_Tool, tool_choice, "tool_choice").function.name
        messages = [
            _message_at(message, f"messages.{index}") for index, message in enumerate(wire.messages)
        ]
        return ChatRequest(
            model=wire.model,
            messages=messages,
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
        raise OpenAIFormatError(f"invalid chat request: {field_errors(error)}") from None
    except _FieldError as error:
        raise OpenAIFormatError(f"invalid chat request: {error}") from None


def _message_at(raw: Mapping[str, Any], at: str) -> Message:
    try:
        return message_from_openai(raw)
    except ValidationError as error:
        raise _FieldError(field_errors(error, at=at)) from None


def message_from_openai(raw: Mapping[str, Any]) -> Message:
    """An OpenAI message; its tool calls arrive nested under `function`. Raises pydantic's
    ValidationError for a message (or a tool call in it) of the wrong shape."""
    calls = raw.get("tool_calls")
    if calls:
        checked = _ToolCalls.model_validate({"tool_calls": calls}).tool_calls
        raw = {
            **raw,
            "tool_calls": [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or "{}"}
                for c in checked
            ],
        }
    return Message.model_validate(raw)


def _tool_call_from_openai(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments") or "{}",
    }


def _tool_call_to_openai(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def chat_request_to_openai(
    request: ChatRequest,
    *,
    max_tokens_field: str = "max_tokens",
    developer_role: str = "developer",
) -> dict[str, Any]:
    """The chat-completions body for `request`, without `stream`. `max_tokens_field` and
    `developer_role` are how the receiver spells them (OpenAI's reasoning models want
    `max_completion_tokens`; many compatible vendors know no `developer` role)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_to_openai(m, developer_role=developer_role) for m in request.messages],
    }
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": request.stop,
        "seed": request.seed,
        max_tokens_field: request.max_tokens,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": tool.model_dump(exclude_none=True)}
            for tool in request.tools
        ]
    if request.tool_choice is not None:
        choice = request.tool_choice
        named = choice not in ("auto", "none", "required")
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice}} if named else choice
        )
    if request.response_format is not None:
        body["response_format"] = request.response_format.model_dump(
            by_alias=True, exclude_none=True
        )
    return body


def message_to_openai(message: Message, *, developer_role: str = "developer") -> dict[str, Any]:
    role = developer_role if message.role == "developer" else message.role
    out: dict[str, Any] = {"role": role}
    if message.content is None or isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [
            {"type": "image_url", "image_url": part.image_url.model_dump(exclude_none=True)}
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    if message.tool_calls:
        out["tool_calls"] = [_tool_call_to_openai(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None and message.role != "tool":
        out["name"] = message.name
    return out


def embedding_request_from_openai(body: Any) -> EmbeddingRequest:
    try:
        wire = _EmbeddingBody.model_validate(body)
        inputs = [wire.input] if isinstance(wire.input, str) else wire.input
        return EmbeddingRequest(model=wire.model, inputs=inputs, dimensions=wire.dimensions)
    except ValidationError as error:
        raise OpenAIFormatError(f"invalid embeddings request: {field_errors(error)}") from None


def embedding_request_to_openai(request: EmbeddingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": request.inputs,
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


# --- answers ------------------------------------------------------------------------------------

# OpenAI's finish reasons, canonical ones included; "function_call" is the old name of a tool call.
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason_from_openai(reason: str | None) -> FinishReason | None:
    """None stays None (not finished); a reason Switchyard does not know reads as "stop"."""
    return None if reason is None else _FINISH.get(reason, "stop")


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def usage_from_openai(usage: Mapping[str, Any] | None) -> Usage:
    """OpenAI counts cached tokens inside `prompt_tokens`: the canonical meaning already."""
    if not usage:
        return Usage()
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=details.get("cached_tokens") or 0,
        cache_write_tokens=details.get("cache_write_tokens") or 0,
    )


def chat_result_to_openai(
    result: ChatResult, *, id: str, model: str | None, created: int
) -> dict[str, Any]:
    """A `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None}
    if result.tool_calls:
        message["tool_calls"] = [_tool_call_to_openai(call) for call in result.tool_calls]
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason}],
        "usage": usage_to_openai(result.usage),
    }


def chat_result_from_openai(completion: Mapping[str, Any]) -> ChatResult:
    """A `chat.completion` object's first choice. Raises ValueError when it has none."""
    choices = completion.get("choices") or []
    if not choices:
        raise ValueError("completion has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    return ChatResult(
        text=message.get("content") or "",
        tool_calls=[
            ToolCall(**_tool_call_from_openai(call))
            for call in message.get("tool_calls") or []
            if call.get("type", "function") == "function"
        ],
        finish_reason=finish_reason_from_openai(choice.get("finish_reason")) or "stop",
        usage=usage_from_openai(completion.get("usage")),
        provider_model=completion.get("model") or "",
        provider_request_id=completion.get("id"),
    )


def chunk_to_openai(
    chunk: ChatChunk, *, id: str, model: str | None, created: int
) -> dict[str, Any]:
    """A `chat.completion.chunk` object."""
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
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if chunk.usage is not None:
        payload["usage"] = usage_to_openai(chunk.usage)
    return payload


def role_chunk(*, id: str, model: str | None, created: int) -> dict[str, Any]:
    """The chunk OpenAI streams open with: an empty assistant delta; some clients expect it."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    }


def delta_from_openai(delta: Mapping[str, Any] | None) -> ChatChunk | None:
    """The content of one choice's delta (text, tool-call pieces), or None when it has none."""
    if not delta:
        return None
    calls = [
        ToolCallDelta(
            index=call["index"],
            id=call.get("id"),
            name=(call.get("function") or {}).get("name"),
            arguments=(call.get("function") or {}).get("arguments") or "",
        )
        for call in delta.get("tool_calls") or []
    ]
    text = delta.get("content") or ""
    if not text and not calls:
        return None
    return ChatChunk(text=text, tool_calls=calls)


def chunk_from_openai(event: Mapping[str, Any]) -> ChatChunk | None:
    """One `chat.completion.chunk` whole: content, finish reason, usage and model; None when it
    carries none of them (the opening role chunk)."""
    choices = event.get("choices") or []
    choice = choices[0] if choices else {}
    content = delta_from_openai(choice.get("delta"))
    finish = finish_reason_from_openai(choice.get("finish_reason"))
    usage = event.get("usage")
    if content is None and finish is None and not usage:
        return None
    return (content or ChatChunk()).model_copy(
        update={
            "finish_reason": finish,
            "usage": usage_from_openai(usage) if usage else None,
            "provider_model": event.get("model"),
        }
    )


def embedding_result_to_openai(result: EmbeddingResult, *, model: str | None) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(result.vectors)
        ],
        "model": model,
        "usage": {
            "prompt_tokens": result.usage.input_tokens,
            "total_tokens": result.usage.input_tokens,
        },
    }


def embedding_result_from_openai(response: Mapping[str, Any]) -> EmbeddingResult:
    ordered = sorted(response.get("data") or [], key=lambda item: item["index"])
    return EmbeddingResult(
        vectors=[list(item["embedding"]) for item in ordered],
        usage=Usage(input_tokens=(response.get("usage") or {}).get("prompt_tokens") or 0),
        provider_model=response.get("model") or "",
    )


# --- errors -------------------------------------------------------------------------------------


def error_body(message: str, kind: str, status: int | str, **extra: Any) -> dict[str, Any]:
    """OpenAI's error shape, so OpenAI clients raise their matching exception class."""
    return {"error": {"message": message, "type": kind, "code": status, **extra}}


def error_to_openai(error: errors.SwitchyardError, **extra: Any) -> dict[str, Any]:
    """A Switchyard error in OpenAI's shape: `type` is its class, `code` its HTTP status, and
    `detail` its own fields (attempts, skipped, suggestions, …), from which
    `error_from_openai` rebuilds the same class on the other side of HTTP."""
    kind = type(error).__name__
    return error_body(str(error), kind, _code(error), detail=_fields(error), **extra)


def _code(error: errors.SwitchyardError) -> str | int:
    """OpenAI's `code`: the error's own where it has one (`context_length_exceeded`,
    `rate_limit_exceeded`), else its HTTP status."""
    own = error.code if isinstance(error, errors.NoCandidateFits | errors.KeyRateLimited) else None
    return own or error.http_status


def error_from_openai(body: Mapping[str, Any]) -> errors.SwitchyardError | None:
    """The Switchyard error an error body (`error_to_openai`'s) describes; None when its `type`
    names no Switchyard class (a 400 for a malformed body, an error from something else)."""
    error = body.get("error") or {}
    cls = _ERROR_CLASSES.get(str(error.get("type")))
    if cls is None:
        return None
    state = dict(error.get("detail") or {})
    for name, model in (("attempts", Attempt), ("skipped", Skipped)):
        if name in state:
            state[name] = [model.model_validate(item) for item in state[name]]
    return errors.rebuild(cls, str(error.get("message", "")), state)


def _fields(error: errors.SwitchyardError) -> dict[str, Any]:
    """The error's own fields as JSON; private ones (a leading underscore) stay home."""
    fields: dict[str, Any] = {}
    for name, value in vars(error).items():
        if name == "message" or name.startswith("_"):
            continue
        if isinstance(value, list):
            value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
        fields[name] = value
    return fields


def _subclasses(cls: type[errors.SwitchyardError]) -> Iterator[type[errors.SwitchyardError]]:
    yield cls
    for subclass in cls.__subclasses__():
        yield from _subclasses(subclass)


_ERROR_CLASSES = {
    cls.__name__: cls
    for cls in _subclasses(errors.SwitchyardError)
    if cls.__module__ == errors.__name__
}
