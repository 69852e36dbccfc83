"""The bare Ray Serve forwarder: what Ray Serve alone costs on Switchyard's path.

The same shape as Switchyard — an ingress deployment (FastAPI on Serve) that calls one
deployment through a `DeploymentHandle`, which calls the upstream over HTTP — with none of
Switchyard's work: no parsing beyond JSON, no routing, no SDK, no metering. The body goes to the
upstream as it came, and the upstream's answer (or its SSE bytes) comes back as it went.

It runs with the same deployment options as Switchyard's Ingress and CloudProxy
(`AppArgs().ingress` / `.cloud_proxy`) on the same cluster, so the difference between the two is
Switchyard's own work.

`build_forwarder(..., sdk=True)` is the same forwarder with its upstream deployment calling
through the official OpenAI SDK by the openai adapter's own call (`OpenAIAdapter.post_chat`:
the SDK's `post` for raw JSON, aiohttp under it), without Switchyard's codec. The mission
requires the SDK in every CloudProxy, so this is the floor of Switchyard's shape *with* the SDK,
and the difference to the bare forwarder is the SDK's own cost. A baseline to read the goals
against, not a goal.
"""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from ray.serve.deployment import Application
from ray.serve.handle import DeploymentHandle

from deployments.cloud.base import Timeouts
from deployments.cloud.openai_adapter import OpenAIAdapter
from serve_app.app.builder import AppArgs
from serve_app.app.handles import this_process_transport

api = FastAPI()


class Upstream:
    """The one deployment behind the ingress: a pooled HTTP client to the upstream.

    aiohttp, the transport Switchyard's SDK clients run on (deployments/cloud/*_adapter.py), so
    the difference between the two is not the choice of HTTP client."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None  # made on the replica's loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Pool as large as the replica's concurrency, like the SDK clients of the CloudProxy.
            connector = aiohttp.TCPConnector(limit=512)
            timeout = aiohttp.ClientTimeout(total=60)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self._client().post(self._url, json=body) as response:
            response.raise_for_status()
            answer: dict[str, Any] = await response.json()
            return answer

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        async with self._client().post(self._url, json=body) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_any():
                yield chunk


class SdkUpstream(Upstream):
    """The one deployment behind the ingress, calling the upstream through the OpenAI SDK the
    way a CloudProxy does: `OpenAIAdapter.post_chat`, the adapter's own SDK call (no retries,
    aiohttp under the SDK), without Switchyard's codec around it. Streams go as the bare
    forwarder's do (aiohttp): the benchmark compares non-streamed calls with it."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self._adapter: OpenAIAdapter | None = None  # made on the replica's loop
        self._base_url = base_url

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._adapter is None:
            self._adapter = OpenAIAdapter("sandbox", self._base_url, "sandbox", Timeouts())
        answer: dict[str, Any] = await self._adapter.post_chat(body)
        return answer


@serve.ingress(api)
class ForwardIngress:
    def __init__(self, upstream: DeploymentHandle) -> None:
        # The transport this replica is configured for, as Switchyard's Ingress sets it.
        self._upstream = this_process_transport(upstream)
        self._streaming = self._upstream.options(stream=True)

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Response:
        body = await request.json()
        if body.get("stream"):
            chunks = self._streaming.stream.remote(body)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(await self._upstream.complete.remote(body))


def build_forwarder(
    upstream_url: str, args: AppArgs | None = None, *, sdk: bool = False
) -> Application:
    """Ingress → Upstream → `upstream_url`, with Switchyard's deployment options; `sdk`: the
    upstream deployment calls through the OpenAI SDK (`SdkUpstream`)."""
    args = args or AppArgs()
    prefix = "forward-sdk" if sdk else "forward"
    # mypy picks the decorator-factory overload of serve.deployment for a bare class.
    upstream = serve.deployment(SdkUpstream if sdk else Upstream).options(  # type: ignore[attr-defined]
        name=f"{prefix}-upstream", **args.cloud_proxy.options()
    )
    ingress = serve.deployment(ForwardIngress).options(  # type: ignore[attr-defined]
        name=f"{prefix}-ingress", **args.ingress.options()
    )
    app: Application = ingress.bind(upstream.bind(upstream_url))
    return app
