"""`RawBodyRoute`: the call routes skip FastAPI's dependency solving, and stay documented."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from serve_app.surfaces.raw_route import RawBodyRoute


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


async def test_a_raw_route_answers_and_is_in_the_openapi_document() -> None:
    app = FastAPI()
    app.router.add_api_route("/echo", echo, methods=["POST"], route_class_override=RawBodyRoute)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/echo?ignored=1", content=b'{"a": 1}')
        assert answer.status_code == 200 and answer.json() == {"a": 1}
        assert (await client.get("/echo")).status_code == 405  # methods still apply
        spec = (await client.get("/openapi.json")).json()
        assert "post" in spec["paths"]["/echo"]


def test_an_endpoint_that_needs_injection_is_refused() -> None:
    async def wants_a_query(request: Request, limit: int) -> Response:
        return Response()

    def not_async(request: Request) -> Response:
        return Response()

    app = FastAPI()
    for endpoint in (wants_a_query, not_async):
        with pytest.raises(TypeError, match="RawBodyRoute endpoint"):
            app.router.add_api_route(
                "/x", endpoint, methods=["POST"], route_class_override=RawBodyRoute
            )
