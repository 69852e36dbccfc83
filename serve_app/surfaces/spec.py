"""What `/openapi.json` says about each route: the body it takes and every answer it can give.

The routes read their bodies themselves, as raw bytes, so that `surfaces.limits` can refuse a body
by its size before it is parsed; and they answer a bad body with their wire's own error (OpenAI's
400, Anthropic's), which FastAPI's validation would turn into its own 422. So FastAPI's generated
spec knows nothing of bodies or answers, and `document(app)` fills them in from the table below:
each body as the wire parser accepts it (documentation, and what the fuzz test draws its input
from: tests/serve_app/surfaces/test_openapi_fuzz.py), every status each route answers with and its
schema, the route headers, and how a key is presented. The parsers stay the judges of a body; the
fuzz test keeps this table and them in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from deployments.ledger.store import FILTER_KEYS, GROUP_KEYS
from serve_app.identity.keys import KeyRequest
from serve_app.surfaces import spec_anthropic as anthropic
from serve_app.surfaces import spec_openai as openai

Refs = dict[type[BaseModel], dict[str, Any]]

# The route's headers (`surfaces.common.route_headers`): on every answer a call gave, and on an
# error once the call had a route.
ROUTE_HEADERS = {
    "x-request-id": "the caller's X-Request-Id, else the call id",
    "x-switchyard-call-id": "the gateway's id for the call; it keys the ledger",
    "x-switchyard-model": "the directory model that served",
    "x-switchyard-provider": "its provider",
    "x-switchyard-attempts": "how many candidates were tried",
    "x-switchyard-overhead-ms": "the call's time in Switchyard outside its attempts",
}
MEANINGS = {
    400: "the request is not a valid call (the message names the field), or no model can take it",
    401: "no key, or an unknown, revoked or expired one (in the shape of the route's surface)",
    402: "the tenant's budget cannot cover the call",
    403: "the key may not do this",
    404: "no such model, shortcut or key",
    413: "the body is over the size limit",
    415: "the body is not application/json",
    429: "the key's rate limit; Retry-After says when to retry",
    500: "every candidate failed (Anthropic's api_error)",
    502: "every candidate failed",
    503: "no candidate is available now, or a state actor is unreachable",
    529: "no candidate is available now, or every one was overloaded (Anthropic's overloaded)",
}
OPENAI_STREAM = (
    "With `stream: true`: server-sent events, OpenAI's `chat.completion.chunk`s, then a "
    "`switchyard.route` event with the whole route, then `[DONE]`; a failure after the first "
    "chunk is an error event."
)
ANTHROPIC_STREAM = (
    "With `stream: true`: server-sent events as Anthropic streams them, then a `switchyard.route` "
    "event with the whole route; a failure after content is an `error` event."
)


@dataclass(frozen=True)
class Operation:
    body: type[BaseModel] | None
    answer: type[BaseModel]
    errors: tuple[int, ...]
    error: type[BaseModel] = openai.ErrorBody  # the route's errors, its 401 included
    status: int = 200
    route_headers: bool = False  # the answer carries the route's headers
    stream: tuple[Callable[[Refs], dict[str, Any]], str] | None = None  # with `stream: true`
    keyless: bool = False  # needs no key
    parameters: tuple[dict[str, Any], ...] = ()


def _parameter(where: str, name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "in": where,
        "name": name,
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


# A call's options as headers (`surfaces.common.call_options`); they win over the body's.
CALL_HEADERS = (
    _parameter("header", "x-request-id", "the caller's id for the call (1-128 printable ASCII)"),
    _parameter("header", "x-switchyard-tenant", "who pays; a tenant key's own only"),
    _parameter("header", "x-switchyard-agent", "which of the tenant's agents calls"),
    _parameter("header", "x-switchyard-privacy", "local: local models only", enum=["any", "local"]),
    _parameter("header", "x-switchyard-first-token-s", "seconds to the first token, at most"),
)
SPEND_QUERY = (
    _parameter("query", "group_by", f"comma-separated, of {', '.join(GROUP_KEYS)}; tenant if none"),
    *(
        _parameter("query", key, "a day as YYYY-MM-DD" if key in ("day", "since", "until") else "")
        for key in FILTER_KEYS
    ),
)
OPENAI_CALL = (400, 401, 402, 403, 404, 413, 415, 429, 502, 503)
ANTHROPIC_CALL = (400, 401, 402, 403, 404, 413, 415, 429, 500, 529)
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/v1/chat/completions", "post"): Operation(
        openai.ChatCompletionsBody,
        openai.ChatCompletion,
        OPENAI_CALL,
        route_headers=True,
        stream=(openai.stream_event, OPENAI_STREAM),
        parameters=CALL_HEADERS,
    ),
    ("/v1/embeddings", "post"): Operation(
        openai.EmbeddingsBody,
        openai.EmbeddingList,
        OPENAI_CALL,
        route_headers=True,
        parameters=CALL_HEADERS,
    ),
    ("/v1/messages", "post"): Operation(
        anthropic.MessagesBody,
        anthropic.AnthropicMessage,
        ANTHROPIC_CALL,
        error=anthropic.AnthropicError,
        route_headers=True,
        stream=(anthropic.stream_event, ANTHROPIC_STREAM),
        parameters=CALL_HEADERS,
    ),
    ("/v1/messages/count_tokens", "post"): Operation(
        anthropic.CountTokensBody,
        anthropic.TokenCount,
        (400, 401, 403, 404, 413, 415, 529),
        error=anthropic.AnthropicError,
        parameters=CALL_HEADERS,
    ),
    ("/v1/models", "get"): Operation(None, openai.ModelList, (401,)),
    ("/v1/providers", "get"): Operation(None, openai.ProviderList, (401,)),
    ("/v1/spend", "get"): Operation(
        None, openai.Spend, (400, 401, 403, 503), parameters=SPEND_QUERY
    ),
    ("/healthz", "get"): Operation(None, openai.Health, (), keyless=True),
    ("/v1/admin/keys", "post"): Operation(
        KeyRequest, openai.CreatedKey, (400, 401, 403, 413, 415, 503), status=201
    ),
    ("/v1/admin/keys", "get"): Operation(None, openai.KeyList, (400, 401, 403, 503)),
    ("/v1/admin/keys/{key_id}", "delete"): Operation(
        None, openai.ListedKey, (400, 401, 403, 404, 503)
    ),
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"x-api-key": []}]
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "OpenAI's SDKs"},
    "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}


def document(app: FastAPI) -> None:
    """Make `app.openapi()` (what `/openapi.json` serves) describe the routes in `OPERATIONS`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            app.openapi_schema = described(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def described(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (FastAPI's) with the bodies, answers and key schemes of `OPERATIONS`."""
    models: set[type[BaseModel]] = {*openai.STREAM_EVENTS}
    for operation in OPERATIONS.values():
        models |= {operation.answer, operation.error, openai.ErrorBody}
        if operation.body is not None:
            models.add(operation.body)
    listed = sorted(models, key=lambda model: model.__name__)
    refs, defs = models_json_schema(
        [(model, "validation") for model in listed],
        ref_template="#/components/schemas/{model}",
    )
    ref = {model: refs[(model, "validation")] for model in listed}
    # FastAPI's own schemas are its 422's, which no route answers.
    schema["components"] = {"schemas": defs.get("$defs", {}), "securitySchemes": SCHEMES}
    schema["security"] = SECURITY
    for (path, method), operation in OPERATIONS.items():
        described = schema["paths"].get(path, {}).get(method)
        if described is None:
            continue  # a route this app does not serve
        if operation.keyless:
            described["security"] = []
        if operation.body is not None:
            described["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref[operation.body]}},
            }
        if operation.parameters:
            described["parameters"] = [*described.get("parameters", []), *operation.parameters]
        described["responses"] = _responses(operation, ref)
    return schema


def _responses(operation: Operation, ref: Refs) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": ref[operation.answer]}}
    description = "the answer"
    if operation.stream is not None:
        event, said = operation.stream
        content["text/event-stream"] = {"schema": event(ref)}
        description = f"the answer. {said}"
    answer: dict[str, Any] = {"description": description, "content": content}
    if operation.route_headers:
        answer["headers"] = _headers(required=True)
    responses = {str(operation.status): answer}
    for status in operation.errors:
        model = operation.error
        error: dict[str, Any] = {
            "description": MEANINGS[status],
            "content": {"application/json": {"schema": ref[model]}},
        }
        if operation.route_headers:
            error["headers"] = _headers(required=False)
        responses[str(status)] = error
    return responses


def _headers(*, required: bool) -> dict[str, Any]:
    return {
        name: {"description": meaning, "required": required, "schema": {"type": "string"}}
        for name, meaning in ROUTE_HEADERS.items()
    }
