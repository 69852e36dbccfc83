"""The three entry points: `stream`, `acomplete`, `complete` — same inputs, one implementation.

`stream` is the real one; `acomplete` gathers a stream into a `Completion`, and `complete` runs
`acomplete` to the end for code that is not async. Inside a Ray cluster that runs Switchyard (a Ray
job or a notebook attached to it) they reach the Ingress through a `DeploymentHandle` (trusted:
no key, the caller's tenant as given); elsewhere over HTTP at `SWITCHYARD_URL` (default
http://127.0.0.1:8000, or `url=`) with the API key `api_key=` or `SWITCHYARD_API_KEY`.

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

from deployments import openai_format
from deployments.canonical import ChatChunk, ChatRequest, Message, ToolCall, Usage
from deployments.errors import SwitchyardError
from serve_app.routing.call import CallOptions, ChatCall, Route, with_route

_REQUEST_FIELDS = set(ChatRequest.model_fields) - {"model", "messages"}
_CALL_FIELDS = set(CallOptions.model_fields)


class GatewayError(SwitchyardError):
    """An error answered over HTTP that names no Switchyard class (a 400 for a body the gateway
    could not read, a proxy's 5xx): `http_status` is the status it came with, `kind` its type.

    Switchyard's own errors are raised as themselves, whichever way the call went: rebuilt from
    the error body over HTTP, unwrapped from Ray's `RayTaskError` over a handle. Either way the
    route the call had taken is `serve_app.routing.call.route_of(error)`.
    """

    def __init__(self, message: str, *, status: int, kind: str) -> None:
        super().__init__(message)
        self.http_status = status  # type: ignore[misc]  # the instance's own, over the class's
        self.kind = kind


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
    model: str,
    messages: Iterable[Mapping[str, Any] | Message],
    *,
    url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> ChatStream:
    """Stream the answer of `model` (a shortcut or model id) to `messages`.

    `url` sends it over HTTP to that Switchyard; `api_key` (else `SWITCHYARD_API_KEY`) is the
    key HTTP calls carry."""
    call = make_call(model, messages, **options)
    return ChatStream(_transport(url, api_key).chat_stream(call))


async def acomplete(
    model: str,
    messages: Iterable[Mapping[str, Any] | Message],
    *,
    url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> Completion:
    """The whole answer, awaited."""
    chunks = stream(model, messages, url=url, api_key=api_key, **options)
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
    model: str,
    messages: Iterable[Mapping[str, Any] | Message],
    *,
    url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> Completion:
    """The whole answer, blocking. Not for use inside a running event loop: await `acomplete`."""
    return asyncio.run(acomplete(model, messages, url=url, api_key=api_key, **options))


# --- transports ---------------------------------------------------------------------------------


class _HandleTransport:
    """Inside the cluster: straight to the Ingress deployment, no HTTP."""

    def __init__(self, app_name: str) -> None:
        from ray import serve

        self._handle = serve.get_app_handle(app_name).options(stream=True)

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        from serve_app.app.handles import unwrapped_ray_errors

        items: Any = self._handle.chat_stream.remote(call)  # a DeploymentResponseGenerator
        with unwrapped_ray_errors():
            async for item in items:
                yield item


class _HTTPTransport:
    """Elsewhere: the OpenAI-compatible HTTP API, streamed."""

    def __init__(
        self,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/chat/completions"
        self._transport = transport  # None: the network; tests pass the app's ASGI transport
        self._auth = {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        async with httpx.AsyncClient(timeout=None, transport=self._transport) as client:
            async with client.stream(
                "POST",
                self._url,
                json=_request_body(call),
                headers={**self._auth, "x-request-id": call.options.request_id}
                if call.options.request_id is not None
                else self._auth,
            ) as response:
                if response.status_code != 200:
                    raise _error(response.status_code, json.loads(await response.aread()))
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line[6:])
                    if "error" in event:
                        # `code` is the status, or OpenAI's own code (a string) where one applies.
                        code = event["error"].get("code")
                        raise _error(code if isinstance(code, int) else 502, event)
                    if event.get("object") == "switchyard.route":
                        yield Route.model_validate(event["switchyard"])
                        continue
                    chunk = openai_format.chunk_from_openai(event)
                    if chunk is not None:
                        yield chunk


def _transport(url: str | None, api_key: str | None) -> _HandleTransport | _HTTPTransport:
    key = api_key or os.environ.get("SWITCHYARD_API_KEY")
    if url is not None:
        return _HTTPTransport(url, api_key=key)
    if "SWITCHYARD_URL" not in os.environ:
        try:
            import ray

            if ray.is_initialized():
                return _HandleTransport(os.environ.get("SWITCHYARD_APP", "switchyard"))
        except ImportError:  # pragma: no cover - ray is a dependency; kept for slim clients
            pass
    return _HTTPTransport(os.environ.get("SWITCHYARD_URL", "http://127.0.0.1:8000"), api_key=key)


def _request_body(call: ChatCall) -> dict[str, Any]:
    """The chat-completions body for `call`: a stream, Switchyard's options in its extension."""
    request = call.request.model_copy(update={"model": call.name})
    return {
        **openai_format.chat_request_to_openai(request),
        "stream": True,
        "switchyard": call.options.model_dump(exclude={"request_id"}, exclude_none=True),
    }


def _error(status: int, body: dict[str, Any]) -> SwitchyardError:
    """The error an HTTP answer describes: the Switchyard class it names, with its fields and the
    route the call had taken, or a `GatewayError` with the status it came with."""
    error = openai_format.error_from_openai(body)
    details = body.get("error") or {}
    if error is None:
        message = str(details.get("message") or f"HTTP {status}")
        return GatewayError(message, status=status, kind=str(details.get("type") or "error"))
    if details.get("switchyard"):
        with_route(error, Route.model_validate(details["switchyard"]))
    return error
