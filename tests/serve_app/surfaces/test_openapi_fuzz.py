"""`/openapi.json` is true: schemathesis draws requests for every route from the spec the app
serves (valid and invalid bodies, query strings, headers) and checks each answer against the
same spec: never a 5xx, a status the route declares, its media type, its body's schema, its
required headers. The app is the Ingress's own, auth on with its key table in SQLite on disk,
around a gateway over scripted in-process backends; schemathesis calls it in-process (ASGI), no
Ray. The number of examples is fixed and their choice derandomized, so CI runs the same requests
every time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from serve_app.identity.auth import AuthConfig, Authenticator
from serve_app.identity.book import KeyBook
from serve_app.identity.cache import KeyCache, LocalKeys
from serve_app.identity.keys import key_hash
from serve_app.routing.gateway import Gateway
from serve_app.surfaces import spec
from serve_app.surfaces.http_api import HttpApi
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends
from tests.serve_app.surfaces.test_http_api import QuietReplica

ADMIN_KEY = "admin-key-for-the-openapi-fuzz-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def build_app(authenticator: Authenticator | None = None) -> FastAPI:
    gateway = Gateway(mini_directory(), ScriptedBackends(), RecordingHealth(), RecordingLedger())
    return HttpApi(gateway, QuietReplica(), authenticator=authenticator).asgi_app()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    keys = KeyCache(LocalKeys(KeyBook(tmp_path / "ledger.sqlite")), refresh_s=60)
    yield build_app(Authenticator(AuthConfig(admin_key_sha256=key_hash(ADMIN_KEY)), keys))
    await keys.aclose()


# The cases are drawn at collection, from the spec of an app built the same way (the spec does
# not depend on keys); each test sends them to its own app with auth on. (schemathesis's
# `from_fixture` would load the spec from the fixture's app, but fails under pytest 9.)
schema = schemathesis.openapi.from_dict(build_app().openapi())


@schema.parametrize()
@settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_what_the_spec_says(case: Case, app: FastAPI) -> None:
    response = case.call(headers=ADMIN, app=app)
    case.validate_response(response, checks=CHECKS, headers=ADMIN, transport_kwargs={"app": app})


async def test_the_app_serves_the_spec_the_cases_are_drawn_from(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        served = await client.get("/openapi.json", headers=ADMIN)
    assert served.json() == schema.raw_schema


def test_the_spec_describes_every_route(app: FastAPI) -> None:
    served = {
        (route.path, method.lower())
        for route in app.routes
        for method in getattr(route, "methods", ()) or ()
        if route.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
        and method not in ("HEAD",)
    }
    assert served == set(spec.OPERATIONS), "a route without its bodies and answers in the spec"


async def test_without_a_key_every_route_but_healthz_is_a_401(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        for path, operations in paths.items():
            for method, operation in operations.items():
                url = path.replace("{key_id}", "key_0")
                response = await client.request(method, url, json={})
                keyless = operation.get("security") == []
                assert response.status_code == (200 if keyless else 401), (method, path)
                assert ("401" in operation["responses"]) is not keyless
