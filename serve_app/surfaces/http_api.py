"""Switchyard's HTTP API as a plain ASGI app around injected collaborators.

`HttpApi(gateway, replica).asgi_app()` is the FastAPI app the Ingress deployment serves (its
`__serve_build_asgi_app__`); tests build the same app around a gateway over in-process backends
and drive it with httpx's ASGI transport, no Ray. Routes: OpenAI's `/v1/chat/completions`,
`/v1/embeddings`, `/v1/models` (the wire is `serve_app.surfaces.openai`'s), and Switchyard's own
`/v1/providers`, `/v1/spend`, `/healthz`, and the admin's `/v1/admin/keys` (`surfaces.admin`).
Every route but `/healthz` needs a key (`surfaces.auth`'s middleware, app-wide, so routes added
later are covered too); a call's tenant and agent are then the key's to say
(`Caller.bind`). A POST body is checked against `RequestLimits` (size, media type, depth,
messages) before it becomes a call: bad input is a 4xx, never a 5xx. An error answer never
carries an internal detail (a traceback, a pid, an address, an actor id): what went wrong
between the Ingress and an actor is logged, and answered with a plain 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from deployments import openai_format
from deployments.canonical import ChatChunk
from deployments.errors import SwitchyardError
from directory.schema import Directory
from serve_app.identity.auth import AuthConfig, Authenticator, Refused
from serve_app.routing.call import ChatCall, route_of
from serve_app.routing.gateway import Gateway
from serve_app.surfaces import anthropic, limits, spec
from serve_app.surfaces import openai as wire
from serve_app.surfaces.admin import KeyAdmin
from serve_app.surfaces.auth import AuthMiddleware, SurfaceRefusal, caller_of, refusal
from serve_app.surfaces.common import JSONAnswer
from serve_app.surfaces.limits import RequestLimits
from serve_app.surfaces.raw_route import add_call_route
from serve_app.surfaces.spend_query import spend_query

logger = logging.getLogger("switchyard.http")
UNAVAILABLE = "spend is unavailable for now; try again shortly"


class Replica(Protocol):
    """What the routes need of the replica beside its gateway (`ReplicaRuntime` in the app)."""

    def ensure_started(self) -> None: ...

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]: ...

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]: ...

    async def allowances(self) -> list[dict[str, Any]]: ...


class HttpApi:
    def __init__(
        self,
        gateway: Gateway,
        replica: Replica,
        limits: RequestLimits | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.gateway = gateway
        self.replica = replica
        self.limits = limits or RequestLimits()  # replaced by the Ingress's `reconfigure`
        # Without one, no key is checked (tests of the routes themselves); the Ingress always
        # passes one, on unless the app was built with `auth: false` (`--no-auth`).
        self.authenticator = authenticator or Authenticator(AuthConfig(enabled=False), None)
        # Why the last directory or tenants config was refused, while the old one keeps serving.
        self.refused_config: str | None = None

    def asgi_app(self) -> FastAPI:
        api = FastAPI(
            title="Switchyard", summary="An LLM routing gateway: name the job, not the model."
        )
        add_call_route(api, "/v1/chat/completions", self.chat_completions)
        add_call_route(api, "/v1/embeddings", self.embeddings)
        api.add_api_route("/v1/models", self.models, methods=["GET"])
        api.add_api_route("/v1/providers", self.providers, methods=["GET"])
        api.add_api_route("/v1/spend", self.spend, methods=["GET"])
        api.add_api_route("/healthz", self.healthz, methods=["GET"])
        KeyAdmin(self.authenticator.keys).add_routes(api)
        anthropic.add_routes(api, self)  # /v1/messages, /v1/messages/count_tokens
        api.add_middleware(
            AuthMiddleware,
            authenticator=self.authenticator,
            surfaces=[SurfaceRefusal(anthropic.PREFIX, anthropic.refusal)],
        )
        spec.document(api)  # every route's body and answers in /openapi.json
        return api

    # --- OpenAI ----------------------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        self.replica.ensure_started()
        try:
            body = await limits.read_json(request, self.limits)
            call, stream = wire.parse_chat(body, _headers(request))
            limits.check_chat(call.request, self.limits)
            call = call.model_copy(
                update={"options": caller_of(request).bind(call.options, call.name)}
            )
        except wire.WireError as error:
            return _refused(error)
        except Refused as error:
            return refusal(error)
        if stream:
            return await self._stream_response(call)
        try:
            answer = await self.gateway.complete(call)
        except SwitchyardError as error:
            return _error(error)
        return JSONAnswer(
            wire.chat_response(answer, int(time.time())), headers=wire.route_headers(answer.route)
        )

    async def _stream_response(self, call: ChatCall) -> Response:
        # Wait for the first chunk before answering: until then the call can still fail over,
        # and a call that fails everywhere gets a real HTTP status instead of a broken stream.
        answer = self.gateway.stream(call)
        try:
            first: ChatChunk | None = await anext(answer)
        except StopAsyncIteration:
            first = None
        except SwitchyardError as error:
            return _error(error)
        opened = answer.route  # who serves it, and the overhead before its attempt began
        created = int(time.time())

        async def events() -> AsyncIterator[bytes]:
            try:
                yield wire.role_event(opened, created)
                if first is not None:
                    yield wire.chunk_event(first, opened, created)
                async for chunk in answer:
                    yield wire.chunk_event(chunk, opened, created)
            except SwitchyardError as error:
                # After the first chunk the status line is gone: end with an explicit error event
                # (OpenAI's SDK raises on it), never a quiet end.
                yield wire.sse(wire.error_response(error, route_of(error) or answer.route))
                return
            finally:
                await answer.aclose()  # a caller gone mid-stream settles the call now
            yield wire.route_event(answer.route)
            yield wire.DONE

        return StreamingResponse(
            events(), media_type="text/event-stream", headers=wire.route_headers(opened)
        )

    async def embeddings(self, request: Request) -> Response:
        self.replica.ensure_started()
        try:
            body = await limits.read_json(request, self.limits)
            call = wire.parse_embedding(body, _headers(request))
            limits.check_embedding(call.request, self.limits)
            call = call.model_copy(
                update={"options": caller_of(request).bind(call.options, call.name)}
            )
        except wire.WireError as error:
            return _refused(error)
        except Refused as error:
            return refusal(error)
        try:
            answer = await self.gateway.embed(call)
        except SwitchyardError as error:
            return _error(error)
        return JSONAnswer(wire.embedding_response(answer), headers=wire.route_headers(answer.route))

    async def models(self, request: Request) -> dict[str, Any]:
        self.replica.ensure_started()
        directory = self.gateway.directory
        key = caller_of(request).key
        allowed = None if key is None or key.models is None else set(key.models)
        shortcuts = [
            {
                "id": name,
                "object": "model",
                "owned_by": "switchyard",
                "switchyard": {"kind": "shortcut", "resolves_to": directory.resolved[name]},
            }
            for name in directory.shortcuts
        ]
        models = [
            {
                "id": model.id,
                "object": "model",
                "owned_by": model.provider,
                "switchyard": {
                    "kind": model.kind,
                    "context_window": model.context_window,
                    "privacy": model.privacy,
                },
            }
            for model in directory.models.values()
        ]
        listed = shortcuts + models
        if allowed is not None:  # a key that lists models sees those only
            listed = [entry for entry in listed if entry["id"] in allowed]
        return {"object": "list", "data": listed}

    # --- Switchyard's own ------------------------------------------------------------------------

    async def providers(self) -> dict[str, Any]:
        self.replica.ensure_started()
        return {"object": "list", "data": self.replica.provider_states(self.gateway.directory)}

    async def spend(self, request: Request) -> Response:
        """Spend and allowances: a tenant key's own tenant only (its budgets, no free tiers,
        which count every tenant's calls); the admin key's, everyone's."""
        try:
            group_by, filters = spend_query(request.query_params.multi_items())
            tenant = caller_of(request).tenant
            if tenant is not None:
                if filters.get("tenant", tenant) != tenant:
                    raise Refused(f"this API key sees the spend of tenant {tenant!r} only", 403)
                filters["tenant"] = tenant
        except wire.WireError as error:
            return _refused(error)
        except Refused as error:
            return refusal(error)
        try:
            rows = await self.replica.spend(group_by, filters)
            allowances = await self.replica.allowances()
        except Exception as error:
            # An actor's error names pids, addresses and actor ids: logged, never answered.
            logger.warning("spend query failed: %s", type(error).__name__)
            body = openai_format.error_body(UNAVAILABLE, "service_unavailable", 503)
            return JSONResponse(body, status_code=503)
        budgets = [a for a in allowances if a["kind"] == "budget"]
        free_tiers = [a for a in allowances if a["kind"] != "budget"]
        if tenant is not None:
            budgets = [a for a in budgets if a.get("tenant") == tenant]
            free_tiers = []
        return JSONResponse(
            {
                "object": "list",
                "group_by": group_by,
                "data": rows,
                # What each free tier and budget has left in its current window.
                "free_tiers": free_tiers,
                "budgets": budgets,
            }
        )

    async def healthz(self) -> Response:
        self.replica.ensure_started()
        body = {"status": "ok", "directory": repr(self.gateway.directory)}
        if self.refused_config is not None:
            body["refused_directory"] = self.refused_config
        return JSONResponse(body)


def _refused(error: wire.WireError) -> Response:
    return JSONAnswer(wire.wire_error_response(error), status_code=error.status)


def _headers(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def _error(error: SwitchyardError) -> Response:
    """An error answer: its own status, its fields, and the route the call had taken."""
    route = route_of(error)
    return JSONAnswer(
        wire.error_response(error, route),
        status_code=error.http_status,
        headers={**(wire.route_headers(route) if route else {}), **error.http_headers()},
    )
