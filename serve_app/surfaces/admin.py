"""The admin's key routes: `POST /v1/admin/keys` (the key is in that answer and nowhere else, ever),
`GET /v1/admin/keys` (never a key nor its hash), `DELETE /v1/admin/keys/{id}`. The admin key only;
`switchyard keys create|list|revoke` calls them.

A key made here is usable on this replica at once and on the others within a key refresh
(`serve_app.identity.cache`); a revoked one is refused here at once and elsewhere within one.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from deployments import openai_format
from serve_app.identity.auth import Refused
from serve_app.identity.cache import KeyCache
from serve_app.identity.keys import ApiKey, KeyRequest, key_hash, make_key
from serve_app.surfaces import limits
from serve_app.surfaces.auth import caller_of, refusal
from serve_app.surfaces.common import WireError
from serve_app.surfaces.limits import RequestLimits

logger = logging.getLogger("switchyard.admin")
UNAVAILABLE = "the key table is unavailable for now; try again shortly"


class KeyAdmin:
    def __init__(self, keys: KeyCache | None) -> None:
        self.keys = keys

    def add_routes(self, api: FastAPI) -> None:
        api.add_api_route("/v1/admin/keys", self.create, methods=["POST"])
        api.add_api_route("/v1/admin/keys", self.list, methods=["GET"])
        api.add_api_route("/v1/admin/keys/{key_id}", self.revoke, methods=["DELETE"])

    def _admin_keys(self, request: Request) -> KeyCache:
        caller = caller_of(request)
        if not caller.auth or self.keys is None:
            raise Refused("auth is off (--no-auth): keys are neither checked nor managed", 400)
        if not caller.admin:
            raise Refused("managing keys needs the admin key", 403)
        return self.keys

    async def create(self, request: Request) -> Response:
        try:
            keys = self._admin_keys(request)
            body = await limits.read_json(request, RequestLimits())
            asked = KeyRequest.model_validate(body)
        except Refused as error:
            return refusal(error)
        except WireError as error:
            return JSONResponse(wire_error(str(error)), status_code=error.status)
        except ValidationError as error:
            message = f"invalid key request: {openai_format.field_errors(error)}"
            return JSONResponse(wire_error(message), status_code=400)
        key, record = make_key(asked)
        hashed = key_hash(key)
        try:
            await keys.service.add(record, hashed)
        except Exception as error:
            return _unavailable("create a key", error)
        keys.remember(record, hashed)
        return JSONResponse({**_listed(record), "key": key}, status_code=201)

    async def list(self, request: Request) -> Response:
        try:
            keys = self._admin_keys(request)
        except Refused as error:
            return refusal(error)
        try:
            records = await keys.service.records()
        except Exception as error:
            return _unavailable("list keys", error)
        return JSONResponse({"object": "list", "data": [_listed(r) for r in records]})

    async def revoke(self, request: Request, key_id: str) -> Response:
        try:
            keys = self._admin_keys(request)
        except Refused as error:
            return refusal(error)
        try:
            record = await keys.service.revoke(key_id)
        except Exception as error:
            return _unavailable("revoke a key", error)
        if record is None:
            return JSONResponse(wire_error(f"no key {key_id[:40]!r}", 404), status_code=404)
        keys.forget(key_id)
        return JSONResponse(_listed(record))


def wire_error(message: str, status: int = 400) -> dict[str, Any]:
    return openai_format.error_body(message, "invalid_request_error", status)


def _listed(record: ApiKey) -> dict[str, Any]:
    return {"object": "api_key", **record.model_dump(mode="json")}


def _unavailable(what: str, error: Exception) -> Response:
    # The actor's error names pids, addresses and actor ids: logged here, never answered.
    logger.warning("could not %s: %s", what, type(error).__name__)
    body = openai_format.error_body(UNAVAILABLE, "service_unavailable", 503)
    return JSONResponse(body, status_code=503)
