"""`RawBodyRoute`: the call routes skip FastAPI's dependency solving, and stay documented."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from serve_app.surfaces.raw_route import add_call_route


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


async def test_a_raw_route_answers_and_is_in_the_openapi_document() -> None:
    app = FastAPI()
    add_call_route(app, "/echo", echo)
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
            add_call_route(app, "/x", endpoint)
