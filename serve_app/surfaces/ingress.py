"""The Ingress deployment: Switchyard's only front door, over HTTP and over Ray handles.

HTTP is `serve_app.surfaces.http_api.HttpApi`'s app, built once the replica's collaborators exist
(`__serve_build_asgi_app__`, Serve's late-bound ingress), so the routes are plain code that tests
drive without Ray. Ray handles reach the same gateway through `chat_stream` and `embed_call`, which
the entry points in `serve_app.client` use.

The directory arrives in the deployment's `user_config`, with the tenants' budgets and the request
limits beside it (`tenants`, `limits`); `reconfigure` swaps them in place, so `serve deploy` with
a changed directory, budgets or limits takes effect with no restart. A config that does not
validate is refused whole and the old one keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from ray import serve

from deployments.canonical import ChatChunk, EmbeddingResult
from deployments.log_redaction import redact_logs
from directory.errors import DirectoryError
from directory.loader import directory_from_dict, load_directory
from directory.schema import Directory
from serve_app.allowances.calls import ReplicaAllowances
from serve_app.allowances.tenants import tenants_from_config
from serve_app.app.handles import HandleBackends
from serve_app.app.runtime import ReplicaRuntime
from serve_app.identity.auth import AuthConfig, Authenticator
from serve_app.routing.call import Answer, ChatCall, EmbeddingCall, Route
from serve_app.routing.gateway import Gateway
from serve_app.surfaces.http_api import HttpApi
from serve_app.surfaces.limits import RequestLimits

logger = logging.getLogger("switchyard.ingress")


def directory_from_config(config: Mapping[str, Any]) -> Directory:
    """`user_config` carries the directory itself (`directory`) or a path to it."""
    if "directory" in config:
        return directory_from_dict(config["directory"])
    return load_directory(config.get("directory_path"))


@serve.ingress()
class Ingress:
    def __init__(
        self,
        cloud: Mapping[str, Any],
        local: Mapping[str, Any],
        runtime: dict[str, Any],
        auth: dict[str, Any],
    ) -> None:
        """`auth`: whether keys are checked, and the admin key's SHA-256 (`AuthConfig`); from the
        builder, so never in the user_config `serve status` shows."""
        # Callers' keys pass through here (`sy-…` tenant keys, bearer and x-api-key headers): any
        # log record this replica makes is scrubbed of their shapes, Serve's tracebacks included.
        # The Ingress holds no provider key and only the admin key's hash, so no exact values.
        redact_logs()
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
        self._authenticator = Authenticator(AuthConfig(**auth), self._runtime.keys)
        self._http = HttpApi(self._gateway, self._runtime, authenticator=self._authenticator)
        self._runtime.ensure_started()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._runtime.ensure_started()
        try:
            directory = directory_from_config(config)
            tenants = tenants_from_config(config)
            request_limits = RequestLimits.model_validate(config.get("limits", {}))
            problems = tenants.check(directory)
            if problems:
                raise ValueError("; ".join(problems))
        except (DirectoryError, ValidationError, ValueError) as error:
            if not self._has_directory:
                raise  # a replica with no directory to fall back on must not start
            # Refuse it and keep serving the old one; /healthz says why.
            self._http.refused_config = str(error)
            logger.error("refused a new directory or tenants config: %s", error)
            return
        self._http.refused_config = None
        self._http.limits = request_limits
        self._has_directory = True
        self._gateway.use_directory(directory, tenants)
        self._runtime.configure_breakers(directory)

    # --- handles (the entry points in serve_app.client) ------------------------------------------

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[ChatChunk | Route]:
        """The answer's chunks, then its `Route`: a handle's stream can carry only items, so the
        route is the last one (`serve_app.client.ChatStream` takes it off)."""
        self._runtime.ensure_started()
        answer = self._gateway.stream(call)
        async for chunk in answer:
            yield chunk
        yield answer.route

    async def embed_call(self, call: EmbeddingCall) -> Answer[EmbeddingResult]:
        self._runtime.ensure_started()
        return await self._gateway.embed(call)

    # --- HTTP ------------------------------------------------------------------------------------

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self._http.asgi_app()

    async def __del__(self) -> None:
        # Graceful shutdown: hand every buffered ledger record to the actor before going.
        await self._runtime.close()
