"""The three entry points: `stream`, `acomplete`, `complete` — same inputs, one implementation.

`stream` is the real one; `acomplete` gathers a stream into a `Completion`, and `complete` runs
`acomplete` to the end for code that is not async. Inside a Ray cluster that runs Switchyard (a Ray
job or a notebook attached to it) they reach the Ingress through a `DeploymentHandle`; elsewhere
over HTTP at `SWITCHYARD_URL` (default http://127.0.0.1:8000).

    async for chunk in serve_app.stream("fast", [{"role": "user", "content": "hi"}]):
        print(chunk.text, end="")
    answer = serve_app.complete("smart", messages, temperature=0.2, tenant="acme")
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from deployments.canonical import ChatChunk, ChatRequest, Message, ToolCall, Usage
from deployments.errors import SwitchyardError
from serve_app.routing.call import CallOptions, ChatCall, Route

_REQUEST_FIELDS = set(ChatRequest.model_fields) - {"model", "messages"}
_CALL_FIELDS = set(CallOptions.model_fields)


class GatewayError(SwitchyardError):
    """An error the gateway answered over HTTP; `kind` is its Switchyard error class name."""

    def __init__(self, message: str, *, status: int, kind: str, route: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.route = route


@dataclass
class Completion:
    """A whole answer and how it was served."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    usage: Usage
    route: Route


@dataclass
class ChatStream:
    """An async iterator of chunks; `route` is set once the stream has ended."""

    _chunks: AsyncIterator[ChatChunk | Route]
    route: Route | None = field(default=None)

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatChunk:
        item = await anext(self._chunks)
        if isinstance(item, Route):
            self.route = item
            raise StopAsyncIteration
        return item


def make_call(
    model: str, messages: Iterable[Mapping[str, Any] | Message], **options: Any
) -> ChatCall:
    """The call the entry points send; an unknown option is refused by name."""
    unknown = set(options) - _REQUEST_FIELDS - _CALL_FIELDS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    request = ChatRequest.model_validate(
        {
            "model": "",
            "messages": [m.model_dump() if isinstance(m, Message) else dict(m) for m in messages],
            **{k: v for k, v in options.items() if k in _REQUEST_FIELDS},
        }
    )
    call_options = CallOptions(**{k: v for k, v in options.items() if k in _CALL_FIELDS})
    return ChatCall(name=model, request=request, options=call_options)


def stream(
    model: str, messages: Iterable[Mapping[str, Any] | Message], **options: Any
) -> ChatStream:
    """Stream the answer of `model` (a shortcut or model id) to `messages`."""
    call = make_call(model, messages, **options)
    return ChatStream(_transport().chat_stream(call))


async def acomplete(
    model: str, messages: Iterable[Mapping[str, Any] | Message], **options: Any
) -> Completion:
    """The whole answer, awaited."""
    chunks = stream(model, messages, **options)
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish_reason: str | None = None
    usage = Usage()
    async for chunk in chunks:
        text.append(chunk.text)
        for delta in chunk.tool_calls:
            slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] = delta.id or slot["id"]
            slot["name"] = delta.name or slot["name"]
            slot["arguments"] += delta.arguments
        finish_reason = chunk.finish_reason or finish_reason
        usage = chunk.usage or usage
    assert chunks.route is not None  # a stream that ended normally always closes with its route
    return Completion(
        text="".join(text),
        tool_calls=[ToolCall(**calls[index]) for index in sorted(calls)],
        finish_reason=finish_reason,
        usage=usage,
        route=chunks.route,
    )


def complete(
    model: str, messages: Iterable[Mapping[str, Any] | Message], **options: Any
) -> Completion:
    """The whole answer, blocking. Not for use inside a running event loop: await `acomplete`."""
    return asyncio.run(acomplete(model, messages, **options))


# --- transports ---------------------------------------------------------------------------------


class _HandleTransport:
    """Inside the cluster: straight to the Ingress deployment, no HTTP."""

    def __init__(self, app_name: str) -> None:
        from ray import serve

        self._handle = serve.get_app_handle(app_name).options(stream=True)

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        items: Any = self._handle.chat_stream.remote(call)  # a DeploymentResponseGenerator
        async for item in items:
            yield item


class _HTTPTransport:
    """Elsewhere: the OpenAI-compatible HTTP API, streamed."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url.rstrip("/") + "/v1/chat/completions"

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        body = _wire_body(call)
        async with httpx.AsyncClient(timeout=None) as client:
            async with client.stream("POST", self._url, json=body) as response:
                if response.status_code != 200:
                    raise _gateway_error(response.status_code, json.loads(await response.aread()))
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line[6:])
                    if "error" in event:
                        raise _gateway_error(event["error"].get("code", 502), event)
                    if event.get("object") == "switchyard.route":
                        yield Route.model_validate(event["switchyard"])
                        continue
                    chunk = _chunk_from_event(event)
                    if chunk is not None:
                        yield chunk


def _transport() -> _HandleTransport | _HTTPTransport:
    if "SWITCHYARD_URL" not in os.environ:
        try:
            import ray

            if ray.is_initialized():
                return _HandleTransport(os.environ.get("SWITCHYARD_APP", "switchyard"))
        except ImportError:  # pragma: no cover - ray is a dependency; kept for slim clients
            pass
    return _HTTPTransport(os.environ.get("SWITCHYARD_URL", "http://127.0.0.1:8000"))


def _wire_body(call: ChatCall) -> dict[str, Any]:
    request = call.request.model_dump(exclude_none=True, by_alias=True)
    messages = []
    for message in request.pop("messages"):
        if "tool_calls" in message:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in message["tool_calls"]
            ]
        messages.append(message)
    if "tools" in request:
        request["tools"] = [{"type": "function", "function": tool} for tool in request["tools"]]
    options = call.options.model_dump(exclude={"request_id"})
    return {
        **request,
        "model": call.name,
        "messages": messages,
        "stream": True,
        "switchyard": options,
    }


def _chunk_from_event(event: dict[str, Any]) -> ChatChunk | None:
    usage = event.get("usage")
    choices = event.get("choices") or []
    delta = choices[0].get("delta", {}) if choices else {}
    finish = choices[0].get("finish_reason") if choices else None
    text = delta.get("content") or ""
    calls = [
        {
            "index": c["index"],
            "id": c.get("id"),
            "name": c.get("function", {}).get("name"),
            "arguments": c.get("function", {}).get("arguments", ""),
        }
        for c in delta.get("tool_calls") or []
    ]
    if not (text or calls or finish or usage):
        return None
    return ChatChunk.model_validate(
        {
            "text": text,
            "tool_calls": calls,
            "finish_reason": finish,
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "output_tokens": usage["completion_tokens"],
                "cached_input_tokens": (usage.get("prompt_tokens_details") or {}).get(
                    "cached_tokens", 0
                ),
            }
            if usage
            else None,
            "provider_model": event.get("model"),
        }
    )


def _gateway_error(status: int, body: dict[str, Any]) -> GatewayError:
    error = body.get("error", {})
    return GatewayError(
        error.get("message", f"HTTP {status}"),
        status=int(status),
        kind=error.get("type", "error"),
        route=error.get("switchyard", {}),
    )
