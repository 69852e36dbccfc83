"""The OpenAI surface of the Ingress: a body and its headers in, a call out; an answer, a stream or
an error back, with Switchyard's route beside it.

What OpenAI's format says (fields, chunks, usage, the error shape) is `deployments.openai_format`'s
business; this module adds only what is HTTP and Switchyard's own:

- per-call options in an extension field, `switchyard` (OpenAI clients send it with
  `extra_body={"switchyard": {...}}`), or in `X-Switchyard-*` headers, which win;
- the route: a `switchyard` field in every answer and error body (OpenAI clients ignore it,
  people read it), and `x-request-id` / `x-switchyard-*` headers. `x-switchyard-call-id` is the
  gateway's own id for the call (it keys the ledger); `x-request-id` echoes the caller's
  `X-Request-Id` (1 to 128 printable ASCII characters, else 400), or is the call id when none came;
- SSE framing: an opening role chunk, the chunks, a last `switchyard.route` event with the
  whole route, then `[DONE]`; an error after the first chunk is an error event, never a quiet end.

`x-switchyard-overhead-ms` is the call's time in Switchyard outside its attempts (planning, failing
over, bookkeeping; `Route.overhead_ms`). On a whole answer or an error it covers the whole call. A
stream's headers go out with its first chunk, so there it covers what came before the serving
attempt began; the stream's closing `switchyard.route` event carries the whole call's figure.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from deployments import openai_format
from deployments.canonical import ChatChunk, ChatResult, EmbeddingResult
from deployments.errors import SwitchyardError
from serve_app.routing.call import Answer, CallOptions, ChatCall, EmbeddingCall, Route
from serve_app.surfaces.common import (
    SwitchyardOptions,
    WireError,
    call_options,
    json_bytes,
    route_field,
    route_headers,
)

__all__ = ["WireError", "route_field", "route_headers"]  # shared by every surface (`common`)


class _Envelope(BaseModel):
    """The parts of a body that are about the HTTP exchange, not the model's answer."""

    model_config = ConfigDict(extra="ignore")
    model: str
    stream: bool = False
    switchyard: SwitchyardOptions | None = None


def _options(body: Any, headers: dict[str, str]) -> tuple[_Envelope, CallOptions]:
    """Headers win over the body extension. OpenAI's `user` is the app's end user: it names no
    tenant (`surfaces.common`)."""
    try:
        envelope = _Envelope.model_validate(body)
    except ValidationError as error:
        raise WireError(f"invalid request: {openai_format.field_errors(error)}") from None
    return envelope, call_options(headers, envelope.switchyard)


def parse_chat(body: Any, headers: dict[str, str]) -> tuple[ChatCall, bool]:
    """The call a `/v1/chat/completions` body asks for, and whether it wants a stream."""
    try:
        request = openai_format.chat_request_from_openai(body)
    except openai_format.OpenAIFormatError as error:
        raise WireError(str(error)) from None
    envelope, options = _options(body, headers)
    return ChatCall(name=envelope.model, request=request, options=options), envelope.stream


def parse_embedding(body: Any, headers: dict[str, str]) -> EmbeddingCall:
    try:
        request = openai_format.embedding_request_from_openai(body)
    except openai_format.OpenAIFormatError as error:
        raise WireError(str(error)) from None
    envelope, options = _options(body, headers)
    return EmbeddingCall(name=envelope.model, request=request, options=options)


# --- answers ------------------------------------------------------------------------------------


def _completion_id(route: Route) -> str:
    return f"chatcmpl-{route.call_id}"


def chat_response(answer: Answer[ChatResult], created: int) -> dict[str, Any]:
    route = answer.route
    body = openai_format.chat_result_to_openai(
        answer.result, id=_completion_id(route), model=route.model, created=created
    )
    return {**body, "switchyard": route_field(route)}


def embedding_response(answer: Answer[EmbeddingResult]) -> dict[str, Any]:
    body = openai_format.embedding_result_to_openai(answer.result, model=answer.route.model)
    return {**body, "switchyard": route_field(answer.route)}


def error_response(error: SwitchyardError, route: Route | None) -> dict[str, Any]:
    """The error body: OpenAI's shape, the error's own fields, and the route when there is one."""
    extra = {"switchyard": route_field(route)} if route is not None else {}
    return openai_format.error_to_openai(error, **extra)


def wire_error_response(error: WireError) -> dict[str, Any]:
    extra = {"param": error.param} if error.param is not None else {}
    return openai_format.error_body(str(error), "invalid_request_error", error.status, **extra)


# --- streams ------------------------------------------------------------------------------------


def role_event(route: Route, created: int) -> bytes:
    """OpenAI streams open with an empty assistant delta; some clients expect it."""
    return sse(
        openai_format.role_chunk(id=_completion_id(route), model=route.model, created=created)
    )


def chunk_event(chunk: ChatChunk, route: Route, created: int) -> bytes:
    """One SSE event in OpenAI's `chat.completion.chunk` shape."""
    return sse(
        openai_format.chunk_to_openai(
            chunk, id=_completion_id(route), model=route.model, created=created
        )
    )


def route_event(route: Route) -> bytes:
    """The stream's last event before `[DONE]`: the whole route. OpenAI clients skip it (no
    choices)."""
    return sse({"object": ROUTE_OBJECT, "choices": [], "switchyard": route_field(route)})


ROUTE_OBJECT = "switchyard.route"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"
