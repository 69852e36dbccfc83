"""The route class of the calls' hot paths: an endpoint that takes the request alone.

The call routes (`/v1/chat/completions`, `/v1/embeddings`, `/v1/messages`, its `count_tokens`)
read their bodies themselves (`surfaces.limits`) and answer with their own wire's errors, so
FastAPI's per-request dependency solving does nothing for them — yet it parses the query string
and cookies, makes a sub-response and opens two exit stacks on every call: ~50 µs of the Ingress's
~390 µs of Python per chat call (`benchmarks.ingress_inprocess`, py-spy). `RawBodyRoute` serves
such an endpoint through Starlette's plain request → response wrapper instead, and stays an
`APIRoute`, so `/openapi.json` documents it as before (`surfaces.spec`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import request_response


class RawBodyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # Only an endpoint that needs nothing FastAPI would inject may skip the injecting.
        parameters = list(inspect.signature(endpoint).parameters)
        if parameters != ["request"] or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{path}: a RawBodyRoute endpoint is `async def f(request)`")
        self.app = request_response(endpoint)


def add_call_route(app: FastAPI, path: str, endpoint: Callable[..., Any]) -> None:
    """Serve `endpoint` (`async def f(request)`) for POSTs to `path` as a `RawBodyRoute`."""
    app.router.add_api_route(path, endpoint, methods=["POST"], route_class_override=RawBodyRoute)
