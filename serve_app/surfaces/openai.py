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

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from deployments import openai_format
from deployments.canonical import ChatChunk, ChatResult, EmbeddingResult
from deployments.errors import SwitchyardError
from serve_app.routing.call import Answer, CallOptions, ChatCall, EmbeddingCall, Route


class WireError(ValueError):
    """The request is not a valid call; the message names the field. Answered with `status`:
    400, or 413/415 for a body too large or not JSON (`serve_app.surfaces.limits`). `param` is
    OpenAI's name for the field, where one field is to blame."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


class _SwitchyardOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = None
    agent: str | None = None
    privacy: Literal["any", "local"] | None = None
    first_token_s: float | None = None  # its floor is CallOptions' to check


class _Envelope(BaseModel):
    """The parts of a body that are about the HTTP exchange, not the model's answer."""

    model_config = ConfigDict(extra="ignore")
    model: str
    stream: bool = False
    user: str | None = None
    switchyard: _SwitchyardOptions | None = None


def _options(body: Any, headers: dict[str, str]) -> tuple[_Envelope, CallOptions]:
    """Headers win over the body extension, which wins over OpenAI's `user` field."""
    try:
        envelope = _Envelope.model_validate(body)
    except ValidationError as error:
        raise WireError(f"invalid request: {openai_format.field_errors(error)}") from None
    extension = envelope.switchyard or _SwitchyardOptions()
    values: dict[str, Any] = {
        "tenant": headers.get("x-switchyard-tenant") or extension.tenant or envelope.user,
        "agent": headers.get("x-switchyard-agent") or extension.agent,
        "privacy": headers.get("x-switchyard-privacy") or extension.privacy,
        # Not `or`: a deadline of 0 is refused, not taken for none.
        "first_token_s": _first_given(
            headers.get("x-switchyard-first-token-s"), extension.first_token_s
        ),
        "request_id": headers.get("x-request-id"),
    }
    try:
        options = CallOptions(**{key: value for key, value in values.items() if value is not None})
    except ValidationError as error:
        raise WireError(f"invalid Switchyard option: {openai_format.field_errors(error)}") from None
    return envelope, options


def _first_given(*values: str | float | None) -> str | float | None:
    return next((value for value in values if value is not None), None)


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


def route_field(route: Route) -> dict[str, Any]:
    """The `switchyard` field of an answer: OpenAI clients ignore it, people read it."""
    return route.model_dump(mode="json")


def route_headers(route: Route) -> dict[str, str]:
    return {
        "x-request-id": route.request_id or route.call_id,
        "x-switchyard-call-id": route.call_id,
        "x-switchyard-model": route.model or "",
        "x-switchyard-provider": route.provider or "",
        "x-switchyard-attempts": str(len(route.attempts)),
        "x-switchyard-overhead-ms": f"{route.overhead_ms:.3f}",
        **({"x-switchyard-notice": route.notice} if route.notice else {}),
    }


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
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
