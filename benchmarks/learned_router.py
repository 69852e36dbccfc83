"""What a learned shortcut's decision costs on CPU: the prompt's embedding by the real
all-MiniLM-L6-v2 on vLLM's CPU build (the `embed` model's engine, `LocalModel`, in this process)
plus the router's arithmetic (`directory.routers.decide` over the shipped artifact), timed
together per prompt, one prompt at a time, as the gateway does it (`serve_app.routing.learned`).

    .venv/bin/python -m benchmarks.learned_router [--calls 300] [--outcomes FILE.csv ...]
        [--max-chars N [N ...]] [--engine '{"max_num_seqs": 1}']

Prompts are MMLU questions from the outcome tables (default: shared/routing-eval/mmlu/, cycled),
cut to the router's `max_chars` as live. `--max-chars` times other cuts too, interleaved prompt by
prompt in the same run (on a shared machine, load drifts alike over all of them); the router's
weights stay the shipped ones, so only the time is measured, not what a shorter cut does to the
router's quality. `--engine` sets engine options (`EngineOptions`) beside the `embed`
deployment's CPU settings. The machine's load average is printed before and after: on a shared
machine it says how much of a figure is the machine. Not included: the Ray handle hop from the
Ingress to the embed deployment (environment.md measured an ingress -> one deployment hop at a
few ms). The target (issue 15, item 5) is a p50 of at most 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from deployments.canonical import EmbeddingRequest
from directory.loader import SHIPPED
from directory.router_files import read_router
from directory.routers import decide, embedded_text

ROUTER = "routers/mmlu-gpt4-mixtral.json"
DEFAULT_TABLES = Path(__file__).resolve().parents[2] / "shared" / "routing-eval" / "mmlu"
WARM_UP = 20  # calls per cut that warm the engine up, not counted
TARGET_MS = 15.0


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


Spent = dict[str, list[float]]


async def run(
    texts: list[str], calls: int, cuts: list[int], engine: dict[str, Any]
) -> dict[int, Spent]:
    from deployments.local import MINILM, EngineOptions, LocalModel, local_runtime_env

    os.environ.update(local_runtime_env(on_gpu=False)["env_vars"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    options = EngineOptions.model_validate({"enforce_eager": True, **engine})
    model = LocalModel("local/all-minilm-l6-v2", MINILM, "embedding", options)
    artifact = read_router(SHIPPED, ROUTER)
    spent: dict[int, Spent] = {cut: {"embed": [], "predict": [], "total": []} for cut in cuts}
    try:
        for index in range(calls + WARM_UP):
            for cut in cuts:  # interleaved: each cut sees the same moments of the machine's load
                text = embedded_text(texts[index % len(texts)], cut)
                start = time.perf_counter()
                request = EmbeddingRequest(model="all-minilm-l6-v2", inputs=[text])
                result = await model.embed(request)
                embedded = time.perf_counter()
                decide(result.vectors[0], artifact)
                done = time.perf_counter()
                if index >= WARM_UP:
                    spent[cut]["embed"].append(embedded - start)
                    spent[cut]["predict"].append(done - embedded)
                    spent[cut]["total"].append(done - start)
    finally:
        model.shutdown()
    return spent


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--outcomes", nargs="*", type=Path)
    parser.add_argument(
        "--max-chars",
        nargs="*",
        type=int,
        metavar="N",
        help="cuts to time (default: the shipped router's max_chars)",
    )
    parser.add_argument("--engine", type=json.loads, default={}, metavar="JSON")
    args = parser.parse_args()
    tables = args.outcomes or sorted(DEFAULT_TABLES.glob("*.csv"))
    texts = prompts(tables)
    cuts = args.max_chars or [read_router(SHIPPED, ROUTER).max_chars]
    print(f"load average (1, 5, 15 min) before: {_load()}; {os.cpu_count()} CPUs")
    spent = asyncio.run(run(texts, args.calls, cuts, args.engine))
    print(f"load average (1, 5, 15 min) after: {_load()}")
    print(f"{args.calls} prompts from {len(tables)} table(s) per cut; engine {args.engine or '-'}")
    for cut, parts in spent.items():
        chars = statistics.median(len(embedded_text(t, cut)) for t in texts)
        print(f"max_chars {cut} (median {chars:.0f} characters embedded)")
        for part, seconds in parts.items():
            p50, p99 = quantile(seconds, 0.5), quantile(seconds, 0.99)
            print(f"  {part:8s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
        verdict = "meets" if quantile(parts["total"], 0.5) <= TARGET_MS else "misses"
        print(f"  target: embed+predict p50 <= {TARGET_MS:g} ms: {verdict}")


if __name__ == "__main__":
    main()
