"""Switchyard's HTTP API as a plain ASGI app around injected collaborators.

`HttpApi(gateway, replica).asgi_app()` is the FastAPI app the Ingress deployment serves (its
`__serve_build_asgi_app__`); tests build the same app around a gateway over in-process backends
and drive it with httpx's ASGI transport, no Ray. Routes: OpenAI's `/v1/chat/completions`,
`/v1/embeddings`, `/v1/models` (the wire is `serve_app.surfaces.openai`'s), and Switchyard's own
`/v1/providers`, `/v1/spend`, `/healthz`. A POST body is checked against `RequestLimits` (size,
media type, depth, messages) before it becomes a call: bad input is a 4xx, never a 5xx.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from deployments.canonical import ChatChunk
from deployments.errors import SwitchyardError
from directory.schema import Directory
from serve_app.routing.call import ChatCall, route_of
from serve_app.routing.gateway import Gateway
from serve_app.surfaces import limits
from serve_app.surfaces import openai as wire
from serve_app.surfaces.limits import RequestLimits


class Replica(Protocol):
    """What the routes need of the replica beside its gateway (`ReplicaRuntime` in the app)."""

    def ensure_started(self) -> None: ...

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]: ...

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]: ...

    async def allowances(self) -> list[dict[str, Any]]: ...


class HttpApi:
    def __init__(
        self, gateway: Gateway, replica: Replica, limits: RequestLimits | None = None
    ) -> None:
        self.gateway = gateway
        self.replica = replica
        self.limits = limits or RequestLimits()  # replaced by the Ingress's `reconfigure`
        # Why the last directory or tenants config was refused, while the old one keeps serving.
        self.refused_config: str | None = None

    def asgi_app(self) -> FastAPI:
        api = FastAPI(
            title="Switchyard", summary="An LLM routing gateway: name the job, not the model."
        )
        api.add_api_route("/v1/chat/completions", self.chat_completions, methods=["POST"])
        api.add_api_route("/v1/embeddings", self.embeddings, methods=["POST"])
        api.add_api_route("/v1/models", self.models, methods=["GET"])
        api.add_api_route("/v1/providers", self.providers, methods=["GET"])
        api.add_api_route("/v1/spend", self.spend, methods=["GET"])
        api.add_api_route("/healthz", self.healthz, methods=["GET"])
        return api

    # --- OpenAI ----------------------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        self.replica.ensure_started()
        try:
            body = await limits.read_json(request, self.limits)
            call, stream = wire.parse_chat(body, _headers(request))
            limits.check_chat(call.request, self.limits)
        except wire.WireError as error:
            return _refused(error)
        if stream:
            return await self._stream_response(call)
        try:
            answer = await self.gateway.complete(call)
        except SwitchyardError as error:
            return _error(error)
        return JSONResponse(
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
        except wire.WireError as error:
            return _refused(error)
        try:
            answer = await self.gateway.embed(call)
        except SwitchyardError as error:
            return _error(error)
        return JSONResponse(
            wire.embedding_response(answer), headers=wire.route_headers(answer.route)
        )

    async def models(self) -> dict[str, Any]:
        self.replica.ensure_started()
        directory = self.gateway.directory
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
        return {"object": "list", "data": shortcuts + models}

    # --- Switchyard's own ------------------------------------------------------------------------

    async def providers(self) -> dict[str, Any]:
        self.replica.ensure_started()
        return {"object": "list", "data": self.replica.provider_states(self.gateway.directory)}

    async def spend(self, request: Request) -> Response:
        params = dict(request.query_params)
        group_by = [g for g in params.pop("group_by", "tenant").split(",") if g]
        try:
            rows = await self.replica.spend(group_by, params)
        except ValueError as error:
            body = wire.wire_error_response(wire.WireError(str(error)))
            return JSONResponse(body, status_code=400)
        allowances = await self.replica.allowances()
        return JSONResponse(
            {
                "object": "list",
                "group_by": group_by,
                "data": rows,
                # What each free tier and budget has left in its current window.
                "free_tiers": [a for a in allowances if a["kind"] != "budget"],
                "budgets": [a for a in allowances if a["kind"] == "budget"],
            }
        )

    async def healthz(self) -> Response:
        self.replica.ensure_started()
        body = {"status": "ok", "directory": repr(self.gateway.directory)}
        if self.refused_config is not None:
            body["refused_directory"] = self.refused_config
        return JSONResponse(body)


def _refused(error: wire.WireError) -> Response:
    return JSONResponse(wire.wire_error_response(error), status_code=error.status)


def _headers(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def _error(error: SwitchyardError) -> Response:
    """An error answer: its own status, its fields, and the route the call had taken."""
    route = route_of(error)
    return JSONResponse(
        wire.error_response(error, route),
        status_code=error.http_status,
        headers=wire.route_headers(route) if route is not None else {},
    )
