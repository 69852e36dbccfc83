"""What a learned shortcut's decision costs on CPU: the prompt's embedding by the real
all-MiniLM-L6-v2 on vLLM's CPU build (the `embed` model's engine, `LocalModel`, in this process)
plus the router's arithmetic (`directory.routers.decide` over the shipped artifact), timed
together per prompt, one prompt at a time, as the gateway does it (`serve_app.routing.learned`).

    .venv/bin/python -m benchmarks.learned_router [--calls 300] [--outcomes FILE.csv ...]

Prompts are MMLU questions from the outcome tables (default: shared/routing-eval/mmlu/, cycled),
cut to the router's `max_chars` as live. Not included: the Ray handle hop from the Ingress to
the embed deployment (environment.md measured an ingress -> one deployment hop at a few ms).
The target (issue 15, item 5) is a p50 of at most 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import time
from pathlib import Path

from deployments.canonical import EmbeddingRequest
from directory.loader import SHIPPED
from directory.router_files import read_router
from directory.routers import decide, embedded_text
from serve_app.learned.train import MAX_CHARS

ROUTER = "routers/mmlu-gpt4-mixtral.json"
DEFAULT_TABLES = Path(__file__).resolve().parents[2] / "shared" / "routing-eval" / "mmlu"


def prompts(paths: list[Path]) -> list[str]:
    csv.field_size_limit(10_000_000)
    found: list[str] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            found += [row["prompt"] for row in csv.DictReader(handle)]
    return found


def quantile(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


async def run(texts: list[str], calls: int) -> dict[str, list[float]]:
    from deployments.local import MINILM, EngineOptions, LocalModel, local_runtime_env

    os.environ.update(local_runtime_env(on_gpu=False)["env_vars"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = LocalModel(
        "local/all-minilm-l6-v2", MINILM, "embedding", EngineOptions(enforce_eager=True)
    )
    artifact = read_router(SHIPPED, ROUTER)
    spent: dict[str, list[float]] = {"embed": [], "predict": [], "total": []}
    try:
        for index in range(calls + 20):  # the first 20 warm the engine up, not counted
            text = embedded_text(texts[index % len(texts)], artifact.max_chars)
            start = time.perf_counter()
            result = await model.embed(EmbeddingRequest(model="all-minilm-l6-v2", inputs=[text]))
            embedded = time.perf_counter()
            decide(result.vectors[0], artifact)
            done = time.perf_counter()
            if index >= 20:
                spent["embed"].append(embedded - start)
                spent["predict"].append(done - embedded)
                spent["total"].append(done - start)
    finally:
        model.shutdown()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--outcomes", nargs="*", type=Path)
    args = parser.parse_args()
    tables = args.outcomes or sorted(DEFAULT_TABLES.glob("*.csv"))
    texts = prompts(tables)
    spent = asyncio.run(run(texts, args.calls))
    chars = statistics.median(len(embedded_text(t, MAX_CHARS)) for t in texts)
    print(
        f"{args.calls} prompts from {len(tables)} table(s), median {chars:.0f} characters embedded"
    )
    for part, seconds in spent.items():
        p50, p99 = quantile(seconds, 0.5), quantile(seconds, 0.99)
        print(f"{part:8s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    verdict = "meets" if quantile(spent["total"], 0.5) <= 15 else "misses"
    print(f"target: embed+predict p50 <= 15 ms: {verdict}")


if __name__ == "__main__":
    main()
