"""The Ingress deployment: Switchyard's only front door, over HTTP and over Ray handles.

HTTP speaks OpenAI's format (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`) plus
Switchyard's own `/v1/providers`, `/v1/spend` and `/healthz`. Ray handles reach the same gateway
through `chat_stream` and `embed_call`, which the entry points in `serve_app.client` use.

The directory arrives in the deployment's `user_config`, with the tenants' budgets beside it
(`tenants`); `reconfigure` swaps both in place, so `serve deploy` with a changed directory or
changed budgets takes effect with no restart. A config that does not validate is refused whole and
the old one keeps serving.
"""

# No `from __future__ import annotations` here: Serve rebuilds the route methods' signatures for
# FastAPI, which then cannot resolve string annotations such as "Request" in this module.
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from ray import serve

from deployments.canonical import ChatChunk, EmbeddingResult
from deployments.errors import SwitchyardError
from directory.errors import DirectoryError
from directory.loader import directory_from_dict, load_directory
from directory.schema import Directory
from serve_app.allowances.calls import ReplicaAllowances
from serve_app.allowances.tenants import tenants_from_config
from serve_app.app.handles import HandleBackends
from serve_app.app.runtime import ReplicaRuntime
from serve_app.routing.call import ChatCall, EmbeddingCall, Route
from serve_app.routing.gateway import Gateway
from serve_app.surfaces import openai as wire

logger = logging.getLogger("switchyard.ingress")

api = FastAPI(title="Switchyard", summary="An LLM routing gateway: name the job, not the model.")


def directory_from_config(config: Mapping[str, Any]) -> Directory:
    """`user_config` carries the directory itself (`directory`) or a path to it."""
    if "directory" in config:
        return directory_from_dict(config["directory"])
    return load_directory(config.get("directory_path"))


# The helpers come before the class: `serve.ingress` pickles the FastAPI app, and with it the
# route methods' globals, when the class is defined; names defined below it would be missing.
async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise wire.WireError("the body is not valid JSON") from None


def _headers(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def _route_only(route: Route) -> dict[str, Any]:
    return {"switchyard": wire.route_field(route)}


def _error_payload(error: SwitchyardError, route: Route) -> dict[str, Any]:
    return wire.error_body(
        str(error), type(error).__name__, error.http_status, **_route_only(route)
    )


def _switchyard_error(error: SwitchyardError, route: Route) -> Response:
    return JSONResponse(
        _error_payload(error, route),
        status_code=error.http_status,
        headers=wire.route_headers(route),
    )


def _error(status: int, message: str, kind: str) -> Response:
    return JSONResponse(wire.error_body(message, kind, status), status_code=status)


@serve.ingress(api)
class Ingress:
    def __init__(
        self,
        cloud: Mapping[str, Any],
        local: Mapping[str, Any],
        runtime: dict[str, Any],
    ) -> None:
        self._runtime = ReplicaRuntime(**runtime)
        # No directory until `reconfigure`: Serve calls it with the user_config right after
        # __init__, before the replica takes any request (and refuses to start one it fails).
        self._has_directory = False
        self._gateway = Gateway(
            Directory(providers={}, models={}, shortcuts={}, selections={}),
            HandleBackends(cloud, local),
            self._runtime.health,
            self._runtime.ledger,
            notices=self._runtime.notices,
            allowances=ReplicaAllowances(self._runtime.leases),
            meter=self._runtime.meter,
        )
        self.directory_error: str | None = None
        self._runtime.ensure_started()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._runtime.ensure_started()
        try:
            directory = directory_from_config(config)
            tenants = tenants_from_config(config)
            problems = tenants.check(directory)
            if problems:
                raise ValueError("; ".join(problems))
        except (DirectoryError, ValidationError, ValueError) as error:
            if not self._has_directory:
                raise  # a replica with no directory to fall back on must not start
            # Refuse it and keep serving the old one; /healthz says why.
            self.directory_error = str(error)
            logger.error("refused a new directory or tenants config: %s", error)
            return
        self.directory_error = None
        self._has_directory = True
        self._gateway.use_directory(directory, tenants)
        self._runtime.configure_breakers(directory)

    # --- handles (the entry points in serve_app.client) ------------------------------------------

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        """The answer's chunks, then the `Route` that served it."""
        self._runtime.ensure_started()
        route = Route(request_id=call.options.request_id, name=call.name, shortcut=None)
        async for chunk in self._gateway.stream(call, route):
            yield chunk
        yield route

    async def embed_call(self, call: EmbeddingCall) -> tuple[EmbeddingResult, Route]:
        self._runtime.ensure_started()
        route = Route(request_id=call.options.request_id, name=call.name, shortcut=None)
        return await self._gateway.embed(call, route), route

    # --- HTTP ------------------------------------------------------------------------------------

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        self._runtime.ensure_started()
        try:
            call, stream = wire.parse_chat(await _json(request), _headers(request))
        except wire.WireError as error:
            return _error(400, str(error), "invalid_request_error")
        route = Route(request_id=call.options.request_id, name=call.name, shortcut=None)
        if stream:
            return await self._stream_response(call, route)
        try:
            result = await self._gateway.complete(call, route)
        except SwitchyardError as error:
            return _switchyard_error(error, route)
        return JSONResponse(wire.chat_response(result, route), headers=wire.route_headers(route))

    async def _stream_response(self, call: ChatCall, route: Route) -> Response:
        # Wait for the first chunk before answering: until then the call can still fail over,
        # and a call that fails everywhere gets a real HTTP status instead of a broken stream.
        chunks = aiter(self._gateway.stream(call, route))
        try:
            first: ChatChunk | None = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except SwitchyardError as error:
            return _switchyard_error(error, route)
        created = int(time.time())

        async def events() -> AsyncIterator[bytes]:
            yield wire.role_event(route, created)
            if first is not None:
                yield wire.chunk_event(first, route, created)
            try:
                async for chunk in chunks:
                    yield wire.chunk_event(chunk, route, created)
            except SwitchyardError as error:
                # After the first chunk the status line is gone: end with an explicit error event
                # (OpenAI's SDK raises on it), never a quiet end.
                yield wire.sse(_error_payload(error, route))
                return
            yield wire.sse({"object": "switchyard.route", "choices": [], **_route_only(route)})
            yield wire.DONE

        return StreamingResponse(
            events(), media_type="text/event-stream", headers=wire.route_headers(route)
        )

    @api.post("/v1/embeddings")
    async def embeddings(self, request: Request) -> Response:
        self._runtime.ensure_started()
        try:
            call = wire.parse_embedding(await _json(request), _headers(request))
        except wire.WireError as error:
            return _error(400, str(error), "invalid_request_error")
        route = Route(request_id=call.options.request_id, name=call.name, shortcut=None)
        try:
            result = await self._gateway.embed(call, route)
        except SwitchyardError as error:
            return _switchyard_error(error, route)
        return JSONResponse(
            wire.embedding_response(result, route), headers=wire.route_headers(route)
        )

    @api.get("/v1/models")
    async def models(self) -> dict[str, Any]:
        self._runtime.ensure_started()
        directory = self._gateway.directory
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

    @api.get("/v1/providers")
    async def providers(self) -> dict[str, Any]:
        self._runtime.ensure_started()
        return {"object": "list", "data": self._runtime.provider_states(self._gateway.directory)}

    @api.get("/v1/spend")
    async def spend(self, request: Request) -> Response:
        params = dict(request.query_params)
        group_by = [g for g in params.pop("group_by", "tenant").split(",") if g]
        try:
            rows = await self._runtime.spend(group_by, params)
        except ValueError as error:
            return _error(400, str(error), "invalid_request_error")
        allowances = await self._runtime.allowances()
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

    @api.get("/healthz")
    async def healthz(self) -> Response:
        self._runtime.ensure_started()
        body = {"status": "ok", "directory": repr(self._gateway.directory)}
        if self.directory_error is not None:
            body["refused_directory"] = self.directory_error
        return JSONResponse(body)

    async def __del__(self) -> None:
        # Graceful shutdown: hand every buffered ledger record to the actor before going.
        await self._runtime.close()
