"""What every API surface shares: the refusal of a bad request, Switchyard's per-call options, and
the route told back in headers.

A surface (`serve_app.surfaces.openai`, `serve_app.surfaces.anthropic`) parses its own wire format
and renders its own answers; the options a caller gives Switchyard itself are the same whichever
format the call came in: `X-Switchyard-Tenant`, `-Agent`, `-Privacy`, `-First-Token-S` headers,
which win over a `switchyard` object in the body. The formats' own end-user fields (OpenAI's `user`,
Anthropic's `metadata.user_id`) name the app's end users, not tenants: they are accepted and name
nothing here (the tenant is the key's; with the admin key or auth off, the option's). `X-Request-Id`
is the caller's id for the call.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic_core
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from deployments import openai_format
from serve_app.routing.call import CallOptions, Route


class WireError(ValueError):
    """The request is not a valid call; the message names the field. Answered with `status`:
    400, or 413/415 for a body too large or not JSON (`serve_app.surfaces.limits`). `param` is
    the field to blame, where one is."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


class SwitchyardOptions(BaseModel):
    """The `switchyard` object a body may carry (OpenAI clients: `extra_body`)."""

    model_config = ConfigDict(extra="forbid")
    tenant: str | None = None
    agent: str | None = None
    privacy: Literal["any", "local"] | None = None
    first_token_s: float | None = None  # its floor is CallOptions' to check


def call_options(headers: dict[str, str], extension: SwitchyardOptions | None) -> CallOptions:
    """The call's options: headers (lower-cased names) win over the body's `switchyard` object."""
    extension = extension or SwitchyardOptions()
    values: dict[str, Any] = {
        "tenant": headers.get("x-switchyard-tenant") or extension.tenant,
        "agent": headers.get("x-switchyard-agent") or extension.agent,
        "privacy": headers.get("x-switchyard-privacy") or extension.privacy,
        # Not `or`: a deadline of 0 is refused, not taken for none.
        "first_token_s": _first_given(
            headers.get("x-switchyard-first-token-s"), extension.first_token_s
        ),
        "request_id": headers.get("x-request-id"),
    }
    try:
        return CallOptions(**{key: value for key, value in values.items() if value is not None})
    except ValidationError as error:
        raise WireError(f"invalid Switchyard option: {openai_format.field_errors(error)}") from None


def _first_given(*values: str | float | None) -> str | float | None:
    return next((value for value in values if value is not None), None)


def route_field(route: Route) -> dict[str, Any]:
    """The `switchyard` field of an answer or error body: clients ignore it, people read it."""
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


def json_bytes(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON, by pydantic's Rust encoder: every answer, error and stream
    chunk goes through here, and it takes about a quarter of `json.dumps`'s time on an answer's
    body (3.5 against 13 µs for a chat answer with its route, timeit, 2026-12-06). Floats print
    in their shortest exact form (`0.0000105`, not `1.05e-05`; the same number to any parser);
    NaN and infinities, which JSON lacks, become null rather than invalid JSON."""
    return pydantic_core.to_json(value, inf_nan_mode="null")


class JSONAnswer(JSONResponse):
    """A JSON response rendered by `json_bytes`."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)
