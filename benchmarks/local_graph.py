"""The tiny local model through the whole Switchyard graph vs vLLM's own OpenAI server.

    .venv/bin/python -m benchmarks.local_graph --requests 64 --concurrency 16 --tokens 64 --rounds 3

Both sides serve the tiny random-weight Llama (gibberish — development only) with the same
engine settings as `switchyard demo` on a CPU (serve_app.app.builder.CPU_ENGINE), greedy decoding,
streamed over HTTP/SSE on loopback: Switchyard's `/v1/chat/completions` with `model=workhorse`
(Serve proxy → Ingress → handle → LocalModel replica) against `python -m
vllm.entrypoints.openai.api_server`. Rounds alternate between the two after one unmeasured
warm-up round each. Prints a markdown table and the ratio of output tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.local_vllm import (
    Stats,
    alternating_rounds,
    openai_server_call,
    start_openai_server,
    table,
    wait_healthy,
)
from benchmarks.servers import free_port
from deployments.local import EngineOptions, ensure_tiny_model, local_runtime_env
from directory.loader import load_directory
from serve_app.app.builder import APP_NAME, CPU_ENGINE, AppArgs, build_app, cpu_dev_overrides


async def measure(
    switchyard_url: str, vllm_url: str, args: argparse.Namespace
) -> dict[str, list[Stats]]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with (
        httpx.AsyncClient(base_url=switchyard_url, timeout=300, limits=limits) as gateway,
        httpx.AsyncClient(base_url=vllm_url, timeout=300, limits=limits) as bare,
    ):
        calls = {
            "Switchyard (workhorse → tiny model)": openai_server_call(
                gateway, args.tokens, "workhorse"
            ),
            "vLLM api_server alone": openai_server_call(bare, args.tokens),
        }
        return await alternating_rounds(calls, args.rounds, args.requests, args.concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from ray import serve

    from serve_app.dev.local_cluster import start_local_cluster, stop_local_cluster

    os.environ.update(local_runtime_env(on_gpu=False)["env_vars"])
    options = EngineOptions(**CPU_ENGINE)
    port = free_port()
    server = start_openai_server(ensure_tiny_model(), options, port)
    url = start_local_cluster(http_port=free_port())
    try:
        directory = load_directory()
        workhorse = directory.resolved["workhorse"]
        overrides = {workhorse: cpu_dev_overrides(directory)[workhorse]}
        app = build_app(AppArgs(local_models=[workhorse], local_overrides=overrides, providers=[]))
        serve.run(app, name=APP_NAME, route_prefix="/")

        async def run() -> dict[str, list[Stats]]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                await wait_healthy(client, server)
            return await measure(url, f"http://127.0.0.1:{port}", args)

        rounds = asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=60)
        stop_local_cluster()
    print(
        f"tiny Llama (random weights, gibberish — development only), {args.tokens} tokens, greedy"
    )
    print(table(rounds))
    names = list(rounds)
    ratio = statistics.median(r.tokens_per_s for r in rounds[names[0]]) / statistics.median(
        r.tokens_per_s for r in rounds[names[1]]
    )
    print(f"\nSwitchyard / vLLM alone, output tokens/s: {ratio:.2f}x")


if __name__ == "__main__":
    main()
