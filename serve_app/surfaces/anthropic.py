"""The Anthropic surface of the Ingress: `POST /v1/messages` (whole and streamed) and
`POST /v1/messages/count_tokens`, so the official `anthropic` SDKs and the agents built on them
(base URL pointed at Switchyard, the key as `x-api-key`) work unchanged, whichever provider's
model serves the call.

A plug-in: `add_routes(app, host)` adds the routes to the Ingress's FastAPI app, and the routes
speak only to the host's gateway, replica and request limits, as the OpenAI routes do. What
Anthropic's format says is `serve_app.surfaces.anthropic_format`'s business; this module adds HTTP:

- Switchyard's options in `X-Switchyard-*` headers or a `switchyard` body object, as on the OpenAI
  surface (`serve_app.surfaces.common`). `metadata.user_id` is Anthropic's end-user id (coding
  agents send a session id there): it is accepted and names no tenant;
- the route in `x-switchyard-*` headers and a `switchyard` field of every answer and error body
  (the SDK ignores both), and `x-switchyard-dropped`: what the request asked that the model which
  served it was not given, each named once: from another provider's model, `cache_control`,
  thinking, `top_k`, …; from an Anthropic model, which gets the caller's own blocks, only what
  Switchyard keeps from every model (`top_k`, server tools);
- errors in Anthropic's shape and statuses, so the SDK raises its own classes: 400
  invalid_request_error, 401 authentication_error, 402 billing_error (a budget), 403
  permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error; a call that
  no candidate could take (503) or that failed on every one with overload is 529 overloaded_error,
  any other failure of every candidate 500 api_error. The Switchyard error's class is in
  `error.switchyard_error`;
- streams as Anthropic streams: message_start, content blocks, ping, message_delta, message_stop,
  then a `switchyard.route` event with the whole route (the SDK skips events it does not know). A
  failure after content is an `error` event, never a clean stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from deployments.canonical import ChatChunk, ChatResult, Usage
from deployments.errors import AllCandidatesFailed, NoCandidateFits, NoCandidates, SwitchyardError
from deployments.openai_format import field_errors
from serve_app.identity.auth import Refused
from serve_app.routing import counting
from serve_app.routing.call import Answer, ChatCall, Route, route_of
from serve_app.routing.gateway import Gateway
from serve_app.surfaces import anthropic_format as wire
from serve_app.surfaces import limits
from serve_app.surfaces.auth import caller_of
from serve_app.surfaces.common import (
    JSONAnswer,
    SwitchyardOptions,
    WireError,
    call_options,
    json_bytes,
    route_field,
    route_headers,
)
from serve_app.surfaces.limits import RequestLimits
from serve_app.surfaces.raw_route import add_call_route

DROPPED_HEADER = "x-switchyard-dropped"


class Started(Protocol):
    def ensure_started(self) -> None: ...


class Host(Protocol):
    """What the routes need of the app that hosts them (`HttpApi`)."""

    @property
    def gateway(self) -> Gateway: ...

    @property
    def replica(self) -> Started: ...

    @property
    def limits(self) -> RequestLimits: ...


PREFIX = "/v1/messages"  # every path of this surface: its refusals are in Anthropic's shape


def add_routes(app: FastAPI, host: Host) -> None:
    """Serve Anthropic's Messages API from `app`, through `host`'s gateway."""
    surface = AnthropicSurface(host)
    add_call_route(app, PREFIX, surface.messages)
    add_call_route(app, f"{PREFIX}/count_tokens", surface.count_tokens)


class AnthropicSurface:
    def __init__(self, host: Host) -> None:
        self._host = host

    async def messages(self, request: Request) -> Response:
        host = self._host
        host.replica.ensure_started()
        try:
            body = await limits.read_json(request, host.limits)
            call, parsed = parse_messages(body, _headers(request))
            limits.check_chat(call.request, host.limits)
            # The key's tenant, agent and limits (a 403 for another tenant's, or a model the key
            # does not list).
            options = caller_of(request).bind(call.options, call.name)
        except WireError as error:
            return refused(error.status, str(error))
        except Refused as error:
            return refused(error.status, str(error))
        call = call.model_copy(update={"options": options})
        if parsed.stream:
            return await self._stream(call, parsed)
        try:
            answer = await host.gateway.complete(call)
        except SwitchyardError as error:
            return error_response(error, self._dropped(parsed, None))
        dropped = self._dropped(parsed, answer.route)
        return JSONAnswer(message_body(answer), headers={**route_headers(answer.route), **dropped})

    def _dropped(self, parsed: wire.Parsed, served: Route | None) -> dict[str, str]:
        """The dropped header, for the provider that served the call (none served: any)."""
        providers = self._host.gateway.directory.providers
        provider = providers.get(served.provider or "") if served is not None else None
        anthropic = provider is not None and provider.adapter == "anthropic"
        dropped = parsed.dropped_by_anthropic if anthropic else parsed.dropped
        return {DROPPED_HEADER: ", ".join(dropped)} if dropped else {}

    async def count_tokens(self, request: Request) -> Response:
        """`{"input_tokens": N}`, as Anthropic answers: exact where the model's provider counts
        (Anthropic), an estimate otherwise, marked in `switchyard.exact` and the
        `x-switchyard-token-count` header (`exact` or `estimate`)."""
        host = self._host
        host.replica.ensure_started()
        try:
            body = await limits.read_json(request, host.limits)
            # Anthropic's counting body has no max_tokens; the canonical request wants one.
            call, _ = parse_messages(
                {"max_tokens": 1, **body} if isinstance(body, dict) else body, {}
            )
            limits.check_chat(call.request, host.limits)
            caller_of(request).bind(call.options, call.name)  # a key that may not call it: 403
        except WireError as error:
            return refused(error.status, str(error))
        except Refused as error:
            return refused(error.status, str(error))
        gateway = host.gateway
        try:
            count = await counting.count_tokens(
                gateway.directory, gateway.token_counter, call.name, call.request
            )
        except SwitchyardError as error:
            return error_response(error)
        marked = {"model": count.model, "exact": count.exact, "method": count.method}
        return JSONResponse(
            {"input_tokens": count.input_tokens, "switchyard": marked},
            headers={"x-switchyard-token-count": "exact" if count.exact else "estimate"},
        )

    async def _stream(self, call: ChatCall, parsed: wire.Parsed) -> Response:
        # Wait for the first chunk before answering: until then the call can still fail over, and
        # a call that fails everywhere gets a real status instead of a broken stream.
        answer = self._host.gateway.stream(call)
        try:
            first: ChatChunk | None = await anext(answer)
        except StopAsyncIteration:
            first = None
        except SwitchyardError as error:
            return error_response(error, self._dropped(parsed, None))
        opened = answer.route
        dropped = self._dropped(parsed, opened)
        writer = wire.StreamWriter(id=message_id(opened), model=opened.model)

        async def events() -> AsyncIterator[bytes]:
            try:
                # The prompt's count, where the provider gave it before its first content.
                for event in writer.start(_prompt_usage(first)):
                    yield sse(*event)
                if first is not None:
                    for event in writer.feed(first):
                        yield sse(*event)
                async for chunk in answer:
                    for event in writer.feed(chunk):
                        yield sse(*event)
            except SwitchyardError as error:
                # The status line is gone: an `error` event, which the SDK raises, never a stop.
                _, body = error_body(error, route_of(error) or answer.route)
                yield sse("error", body)
                return
            finally:
                await answer.aclose()  # a caller gone mid-stream settles the call now
            for event in writer.finish():
                yield sse(*event)
            yield sse(ROUTE_EVENT, {"type": ROUTE_EVENT, "switchyard": route_field(answer.route)})

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={**route_headers(opened), **dropped}
        )


ROUTE_EVENT = "switchyard.route"


def _prompt_usage(first: ChatChunk | None) -> Usage | None:
    """The prompt's count, where the provider gave it before its first content (Anthropic's
    message_start does; others count only at the end, in message_delta here)."""
    if first is None:
        return None
    return first.usage_so_far or first.usage


def parse_messages(body: Any, headers: dict[str, str]) -> tuple[ChatCall, wire.Parsed]:
    """The call a `/v1/messages` body asks for, and what its parsing noted."""
    try:
        parsed = wire.request_from_anthropic(body)
    except wire.AnthropicFormatError as error:
        raise WireError(str(error)) from None
    options = call_options(headers, _extension(body))
    return ChatCall(name=parsed.request.model, request=parsed.request, options=options), parsed


def _extension(body: Any) -> SwitchyardOptions | None:
    raw = body.get("switchyard") if isinstance(body, dict) else None
    if raw is None:
        return None
    try:
        return SwitchyardOptions.model_validate(raw)
    except ValidationError as error:
        problem = field_errors(error, at="switchyard")
        raise WireError(f"invalid Switchyard option: {problem}") from None


def message_id(route: Route) -> str:
    return f"msg_{route.call_id}"


def message_body(answer: Answer[ChatResult]) -> dict[str, Any]:
    route = answer.route
    body = wire.message_to_anthropic(answer.result, id=message_id(route), model=route.model)
    return {**body, "switchyard": route_field(route)}


# --- errors -------------------------------------------------------------------------------------

_TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED = 529


def anthropic_status(error: SwitchyardError) -> int:
    """The status Anthropic would answer `error` with."""
    if isinstance(error, NoCandidates) and not isinstance(error, NoCandidateFits):
        return OVERLOADED  # nothing could be tried now: come back later
    if isinstance(error, AllCandidatesFailed):
        overloaded = all(a.status in (OVERLOADED, 429) for a in error.attempts)
        return OVERLOADED if error.attempts and overloaded else 500
    status = error.http_status
    return status if status in _TYPE_OF_STATUS else 500


def error_body(error: SwitchyardError, route: Route | None) -> tuple[int, dict[str, Any]]:
    status = anthropic_status(error)
    extra = {"switchyard": route_field(route)} if route is not None else {}
    body = wire.error_body(_TYPE_OF_STATUS[status], str(error), **extra)
    body["error"]["switchyard_error"] = type(error).__name__
    return status, body


def error_response(error: SwitchyardError, headers: dict[str, str] | None = None) -> Response:
    route = route_of(error)
    status, body = error_body(error, route)
    own = route_headers(route) if route is not None else {}
    # The error's own (Retry-After on a rate limit: the SDK's retries read it).
    extra = {**error.http_headers(), **(headers or {})}
    return JSONAnswer(body, status_code=status, headers={**own, **extra})


def refused(status: int, message: str) -> Response:
    """A request refused before it became a call (malformed, too large, not the key's)."""
    kind = _TYPE_OF_STATUS.get(status, "invalid_request_error")
    return JSONAnswer(wire.error_body(kind, message), status_code=status)


def refusal(error: Refused) -> Response:
    """The key check's refusal on this surface's paths (`surfaces.auth`): 401
    authentication_error, 403 permission_error, which the SDK raises as its own classes."""
    return refused(error.status, str(error))


# --- framing ------------------------------------------------------------------------------------


def sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_bytes(data) + b"\n\n"


def _headers(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}
