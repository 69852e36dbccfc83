"""The control API every sandbox serves, beside its provider's API.

`POST /_sandbox/script` merges a script into a model's (see `script.Script` for the fields; an
unknown field or a bad value is a 400 that says which), `GET /_sandbox/stats` returns
`{"requests": {model: count}, "total": count}`, `POST /_sandbox/reset` clears scripts and counts,
`GET /_sandbox/scripts` shows the scripts in force with the faults each has left.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deployments.sandbox.asgi import parse_json_object
from deployments.sandbox.script import Scriptbook


def control_routes(book: Scriptbook, prefixes: Sequence[str] = ("",)) -> list[BaseRoute]:
    """The control API every sandbox serves: script, stats, reset (and the scripts in force)."""

    async def set_script(request: Request) -> Response:
        body = parse_json_object(await request.body())
        if body is None:
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        try:
            script = book.set(body)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"script": script.model_dump(mode="json", exclude_unset=True)})

    async def stats(request: Request) -> Response:
        return JSONResponse(book.stats())

    async def scripts(request: Request) -> Response:
        return JSONResponse(book.scripts())

    async def reset(request: Request) -> Response:
        book.reset()
        return JSONResponse({"reset": True})

    routes: list[BaseRoute] = []
    for prefix in prefixes:
        routes += [
            Route(f"{prefix}/_sandbox/script", set_script, methods=["POST"]),
            Route(f"{prefix}/_sandbox/scripts", scripts, methods=["GET"]),
            Route(f"{prefix}/_sandbox/stats", stats, methods=["GET"]),
            Route(f"{prefix}/_sandbox/reset", reset, methods=["POST"]),
        ]
    return routes
