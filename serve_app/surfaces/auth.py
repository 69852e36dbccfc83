"""The key check, applied to the whole HTTP app as ASGI middleware: every route but `/healthz`,
including routes other surfaces add later, needs a key. The caller it makes is in
`request.state.caller` for the routes (`caller_of`).

A key is read from `Authorization: Bearer <key>` (OpenAI's SDKs) or `x-api-key` (Anthropic's).
A missing, unknown, revoked or expired key is a 401, before the body is read, in the error shape of
the surface that owns the path, so each SDK raises its own class: a surface whose clients expect
their own shape names its paths and how it renders a refusal (`SurfaceRefusal`, e.g. Anthropic's
`/v1/messages*`); every other path answers in OpenAI's (`refusal`). With auth off every answer
carries `x-switchyard-auth: off`, so nobody mistakes a laptop's open gateway for a guarded one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments import openai_format
from serve_app.identity.auth import Authenticator, Caller, Refused

OPEN_PATHS = frozenset({"/healthz"})
AUTH_OFF_HEADER = (b"x-switchyard-auth", b"off")
_KINDS = {401: "authentication_error", 403: "permission_error"}


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                bearer = credentials.strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1").strip()
    return bearer or api_key


def refusal(error: Refused) -> JSONResponse:
    """A refusal in OpenAI's error shape (its `type` says which kind, `code` the status)."""
    extra: dict[str, Any] = {"param": error.param} if error.param is not None else {}
    kind = _KINDS.get(error.status, "invalid_request_error")
    body = openai_format.error_body(str(error), kind, error.status, **extra)
    headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


RenderRefusal = Callable[[Refused], Response]


@dataclass(frozen=True)
class SurfaceRefusal:
    """A surface that renders refusals in its own clients' error shape, for the paths under
    `prefix` (the prefix itself, or it followed by `/`)."""

    prefix: str
    render: RenderRefusal

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


def caller_of(request: Request) -> Caller:
    """The caller the middleware checked; Refused(401) on a route it did not check (fail closed)."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Caller):
        raise Refused("this route needs an API key", 401)
    return caller


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        surfaces: Sequence[SurfaceRefusal] = (),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.surfaces = tuple(surfaces)

    def refusal_for(self, path: str) -> RenderRefusal:
        """How the surface that owns `path` renders a refusal (OpenAI's shape by default)."""
        return next((s.render for s in self.surfaces if s.owns(path)), refusal)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.authenticator.config.enabled:
            scope.setdefault("state", {})["caller"] = await self.authenticator.caller(None)
            await self.app(scope, receive, _stamped(send))
            return
        if scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            caller = await self.authenticator.caller(presented_key(scope["headers"]))
        except Refused as error:
            await self.refusal_for(scope["path"])(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def _stamped(send: Send) -> Send:
    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), AUTH_OFF_HEADER]
        await send(message)

    return stamped
