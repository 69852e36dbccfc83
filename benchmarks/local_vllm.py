"""LocalModel in-process vs vLLM's own OpenAI server, on the same model and engine settings.

    .venv-local/bin/python benchmarks/local_vllm.py --requests 64 --concurrency 16 --tokens 64

Both sides run the tiny random-weight Llama (gibberish — development only) with the same engine
options, greedy decoding (so both generate the same tokens), streamed. Rounds alternate between
the two, after one unmeasured warm-up round each, so that a noisy neighbour on the machine hits
both alike. Prints a markdown table and the ratio of output tokens/s.

What is compared: LocalModel's `stream()` called in this process (no HTTP; its vLLM frontend
shares this process and its GIL with the load generator) against `python -m
vllm.entrypoints.openai.api_server` over loopback HTTP/SSE (its frontend in its own process).
The run through the full Switchyard graph (Ingress → handle → LocalModel) reuses `run_load` with
another `StreamCall`.

`run_load` and `Stats` are the reusable part: give `run_load` any `StreamCall` (a function
returning an async iterator of (text, output_tokens_so_far_or_None) pairs) and it measures TTFT
and output tokens/s under concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.servers import free_port
from deployments.canonical import ChatRequest, Message
from deployments.local import (
    EngineOptions,
    LocalModel,
    ensure_tiny_model,
    local_runtime_env,
)

PROMPT = "Write a short poem about the sea and the weather today."

# One streamed call: yields (text piece, output tokens so far if known). Output tokens are taken
# from the last non-None count, so a source that reports usage only at the end works.
StreamCall = Callable[[], AsyncIterator[tuple[str, int | None]]]


@dataclass(frozen=True)
class Stats:
    name: str
    requests: int
    concurrency: int
    output_tokens: int
    wall_s: float
    ttft_ms: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_s

    def ttft_p(self, q: float) -> float:
        ordered = sorted(self.ttft_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_load(name: str, call: StreamCall, *, requests: int, concurrency: int) -> Stats:
    """Run `requests` streamed calls, `concurrency` at a time; measure TTFT and tokens/s."""
    gate = asyncio.Semaphore(concurrency)
    ttfts: list[float] = []
    tokens: list[int] = []

    async def one() -> None:
        async with gate:
            start = time.perf_counter()
            first: float | None = None
            count = 0
            async for text, so_far in call():
                if text and first is None:
                    first = time.perf_counter()
                if so_far is not None:
                    count = so_far
            if first is None:
                raise RuntimeError(f"{name}: a stream ended without any text")
            ttfts.append((first - start) * 1000)
            tokens.append(count)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    wall = time.perf_counter() - began
    return Stats(name, requests, concurrency, sum(tokens), wall, ttfts)


# --- the two sides -----------------------------------------------------------------------------


async def alternating_rounds(
    calls: dict[str, StreamCall], rounds: int, requests: int, concurrency: int
) -> dict[str, list[Stats]]:
    """One unmeasured warm-up each, then `rounds` rounds that take the calls in turn."""
    for name, call in calls.items():
        await run_load(name, call, requests=requests, concurrency=concurrency)
    measured: dict[str, list[Stats]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            measured[name].append(
                await run_load(name, call, requests=requests, concurrency=concurrency)
            )
    return measured


def local_model_call(model: LocalModel, max_tokens: int) -> StreamCall:
    req = ChatRequest(
        model="tiny",
        messages=[Message(role="user", content=PROMPT)],
        max_tokens=max_tokens,
        temperature=0,
    )

    async def call() -> AsyncIterator[tuple[str, int | None]]:
        async for chunk in model.stream(req):
            yield chunk.text, (chunk.usage.output_tokens if chunk.usage else None)

    return call


def openai_server_call(
    client: httpx.AsyncClient, max_tokens: int, model: str = "tiny"
) -> StreamCall:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def call() -> AsyncIterator[tuple[str, int | None]]:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                usage = event.get("usage")
                text = "".join(c["delta"].get("content") or "" for c in event.get("choices", []))
                yield text, (usage["completion_tokens"] if usage else None)

    return call


def engine_flags(options: EngineOptions) -> list[str]:
    """The api_server flags that match LocalModel's EngineOptions (CPU: dtype float32)."""
    flags = ["--dtype", "float32" if options.dtype == "auto" else options.dtype]
    if options.max_model_len:
        flags += ["--max-model-len", str(options.max_model_len)]
    if options.max_num_seqs:
        flags += ["--max-num-seqs", str(options.max_num_seqs)]
    flags += ["--enforce-eager"] if options.enforce_eager else []
    return [*flags, "--seed", str(options.seed), "--disable-log-stats"]


def start_openai_server(
    weights: Path, options: EngineOptions, port: int
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(weights),
        "--served-model-name",
        "tiny",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--uvicorn-log-level",
        "warning",
        *engine_flags(options),
    ]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / "local_vllm_server.log", "wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


async def wait_healthy(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("vLLM's api_server exited; see $TMPDIR/local_vllm_server.log")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(1)
    raise TimeoutError("vLLM's api_server did not become healthy in 600 s")


# --- report ------------------------------------------------------------------------------------


def table(rounds: dict[str, list[Stats]]) -> str:
    lines = [
        "| path | requests × concurrency | output tokens/s (median of rounds) | "
        "TTFT p50 ms | TTFT p95 ms | rounds (tokens/s) | output tokens per round |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs in rounds.items():
        ttfts = [t for run in runs for t in run.ttft_ms]
        merged = Stats(name, 0, 0, 0, 1, ttfts)
        lines.append(
            f"| {name} | {runs[0].requests} × {runs[0].concurrency} | "
            f"{statistics.median(r.tokens_per_s for r in runs):,.0f} | "
            f"{merged.ttft_p(0.5):.0f} | {merged.ttft_p(0.95):.0f} | "
            + ", ".join(f"{r.tokens_per_s:,.0f}" for r in runs)
            + f" | {runs[0].output_tokens} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-model-len", type=int, default=1024)
    parser.add_argument("--eager", action="store_true", help="skip torch.compile on both sides")
    args = parser.parse_args()

    os.environ.update(local_runtime_env(on_gpu=False)["env_vars"])
    options = EngineOptions(max_model_len=args.max_model_len, enforce_eager=args.eager)
    weights = ensure_tiny_model()
    port = free_port()
    server = start_openai_server(weights, options, port)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
    ) as client:
        try:
            model = LocalModel("local/tiny-llama-dev", str(weights), "chat", options)
            await wait_healthy(client, server)
            calls = {
                "LocalModel (in-process)": local_model_call(model, args.tokens),
                "vLLM api_server (HTTP)": openai_server_call(client, args.tokens),
            }
            rounds = await alternating_rounds(calls, args.rounds, args.requests, args.concurrency)
            model.shutdown()
        finally:
            server.terminate()
            server.wait(timeout=60)

    print(
        f"tiny Llama (random weights, gibberish — development only), {args.tokens} tokens, "
        f"max_model_len {args.max_model_len}, {'eager' if args.eager else 'torch.compile'}\n"
    )
    print(table(rounds))
    local, bare = (statistics.median(r.tokens_per_s for r in runs) for runs in rounds.values())
    print(f"\nratio LocalModel / api_server, output tokens/s: {local / bare:.2f}×")


if __name__ == "__main__":  # vLLM's engine core is a spawned process: it re-imports this module
    asyncio.run(main())
