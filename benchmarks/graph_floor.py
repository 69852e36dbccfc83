"""What the graph's shape costs before any of Switchyard's work: sequential p50 of bare apps.

    .venv/bin/python -m benchmarks.graph_floor --requests 600 --rounds 3

Every app here does nothing but pass a fixed answer along, on one local Ray cluster started as
`switchyard serve` starts it (`serve_app.dev.local_cluster`: direct ingress on) with Switchyard's
replica settings (`serve_app.app.builder.FAST_PATH_ENV`, via `AppArgs().ingress`). Each is
reached on its ingress replica's own port, and all of them are interleaved request by request
with the bare sandbox upstream (`benchmarks.load`), so that their differences are the cost of
each step:

- `ingress` — a FastAPI ingress deployment answering by itself: one Serve replica on the path;
- `ingress→deployment` — that ingress calling a second deployment through a `DeploymentHandle`
  (gRPC) that answers by itself: the hop from Switchyard's Ingress to a CloudProxy;
- `ingress→deployment→upstream` — the second deployment calling the sandbox upstream over HTTP
  (aiohttp): the bare forwarder of `benchmarks.overhead`, the floor of Switchyard's shape.
"""

# No `from __future__ import annotations`: FastAPI must see real annotations on the routes.
import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve.deployment import Application
from ray.serve.handle import DeploymentHandle

from benchmarks.load import Plan, Target
from benchmarks.report import percentile
from benchmarks.runner import run_load
from benchmarks.servers import free_port, start_sandbox
from serve_app.app.builder import AppArgs
from serve_app.app.handles import this_process_transport

ANSWER = {
    "id": "chatcmpl-floor",
    "object": "chat.completion",
    "model": "floor",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello and welcome aboard!"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}

api_alone = FastAPI()
api_hop = FastAPI()


@serve.ingress(api_alone)
class AnsweringIngress:
    @api_alone.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Response:
        await request.json()
        return JSONResponse(ANSWER)


@serve.ingress(api_hop)
class ForwardingIngress:
    def __init__(self, downstream: DeploymentHandle) -> None:
        # The replica's own transport (gRPC under FAST_PATH_ENV), as Switchyard's Ingress sets it.
        self._downstream = this_process_transport(downstream)

    @api_hop.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Response:
        return JSONResponse(await self._downstream.complete.remote(await request.json()))


class Answering:
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return ANSWER


class CallingUpstream:
    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None  # made on the replica's loop

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self._url, json=body) as response:
            answer: dict[str, Any] = await response.json()
            return answer


def shapes(upstream_chat_url: str) -> dict[str, Application]:
    args = AppArgs()

    def ingress(cls: type) -> Any:
        return serve.deployment(cls).options(name="ingress", **args.ingress.options())  # type: ignore[attr-defined]

    def downstream(cls: type) -> Any:
        return serve.deployment(cls).options(name="downstream", **args.cloud_proxy.options())  # type: ignore[attr-defined]

    return {
        "ingress": ingress(AnsweringIngress).bind(),
        "ingress→deployment": ingress(ForwardingIngress).bind(downstream(Answering).bind()),
        "ingress→deployment→upstream": ingress(ForwardingIngress).bind(
            downstream(CallingUpstream).bind(upstream_chat_url)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.graph_floor", description=__doc__)
    parser.add_argument("--requests", type=int, default=600, help="per app")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from serve_app.dev.local_cluster import ingress_urls, start_local_cluster, stop_local_cluster

    upstream = start_sandbox(Path(tempfile.mkdtemp(prefix="switchyard-floor-")))
    chat_url = upstream.extra["openai"] + "/chat/completions"
    body = {"model": "openai/gpt-oss-20b", "messages": [{"role": "user", "content": "Hello"}]}
    try:
        start_local_cluster(http_port=free_port())
        targets = [Target("upstream (sandbox, direct)", chat_url, body)]
        for n, (name, app) in enumerate(shapes(chat_url).items()):
            serve.run(app, name=f"floor{n}", route_prefix=f"/floor{n}")
            targets.append(
                Target(name, ingress_urls(f"floor{n}")[0] + "/v1/chat/completions", body)
            )
        samples = run_load(Plan(targets, ["sequential"], args.rounds, args.requests, 1))["samples"]
    finally:
        stop_local_cluster()
        upstream.stop()
    base = percentile(samples[targets[0].name]["latency_ms"], 50)
    print("| path | p50 ms | p99 ms | p50 over the upstream, ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for target in targets:
        s = samples[target.name]
        p50 = percentile(s["latency_ms"], 50)
        print(
            f"| {target.name} | {p50:.2f} | {percentile(s['latency_ms'], 99):.2f} | "
            f"{p50 - base:+.2f} | {len(s['errors'])} |"
        )
    for target in targets:
        if samples[target.name]["errors"]:
            print(f"{target.name}: first error: {samples[target.name]['errors'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
