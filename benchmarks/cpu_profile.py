"""Where a replica's Python time goes: py-spy samples, summed by whose code was running.

py-spy samples only threads holding the GIL (`--gil`), that is Python actually running: without
it, threads parked in native waits (gRPC's pollers, Ray's core worker, idle executors) look busy
and swamp the picture. Each sample is charged to the innermost frame's package (its "self"
time): Switchyard's own code against FastAPI, pydantic, the provider SDK, Ray Serve and Ray's
core. Native work that runs without the GIL (Ray's C++ core, gRPC's C core) is not in these
shares; `benchmarks.processes.cpu_seconds` counts it with the rest.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# First match wins: more specific paths before the packages that contain them.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("serve_app/", "Switchyard"),
    ("deployments/", "Switchyard"),
    ("directory/", "Switchyard"),
    ("ray/serve/", "Ray Serve"),
    ("ray/", "Ray core (actor calls, metrics, workers)"),
    ("grpc/", "gRPC"),
    ("openai/", "provider SDK + its HTTP client"),
    ("httpx2/", "provider SDK + its HTTP client"),
    ("httpcore2/", "provider SDK + its HTTP client"),
    ("httpx/", "provider SDK + its HTTP client"),
    ("httpcore/", "provider SDK + its HTTP client"),
    ("anyio/", "provider SDK + its HTTP client"),
    ("h11/", "provider SDK + its HTTP client"),
    ("fastapi/", "ASGI: FastAPI, Starlette, uvicorn"),
    ("starlette/", "ASGI: FastAPI, Starlette, uvicorn"),
    ("uvicorn/", "ASGI: FastAPI, Starlette, uvicorn"),
    ("pydantic", "pydantic"),
    ("asyncio/", "event loop and threads"),
    ("threading.py", "event loop and threads"),
    ("selectors.py", "event loop and threads"),
    ("concurrent/", "event loop and threads"),
    ("logging/", "logging"),
)
_FRAME = re.compile(r"\((?P<file>[^:()]+)(?::\d+)?\)$")


def category(frame: str) -> str:
    match = _FRAME.search(frame)
    where = match.group("file") if match else frame
    for needle, name in CATEGORIES:
        if needle in where:
            return name
    return "other (stdlib, json, uuid, …)"


def summarize(raw: Path) -> dict[str, float]:
    """Share of samples (0–1) per category, from py-spy's `--format raw` (collapsed stacks)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        counts[category(stack.split(";")[-1])] += int(number)
    total = sum(counts.values()) or 1
    return {name: count / total for name, count in counts.most_common()}


def record(pids: dict[str, int], out_dir: Path, during: Callable[[], object]) -> dict[str, Path]:
    """py-spy on every PID while `during()` runs; the raw sample files by label."""
    out_dir.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(sys.executable).parent / "py-spy")
    spies: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
    for label, pid in pids.items():
        raw = out_dir / f"{label}.raw"
        argv = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(raw)]
        argv += ["--rate", "200", "--nonblocking", "--gil"]
        spies[label] = (
            raw,
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        )
    time.sleep(1.0)  # py-spy attaches
    try:
        during()
    finally:
        for _, spy in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        for _, spy in spies.values():
            spy.wait(timeout=60)
    return {label: raw for label, (raw, _) in spies.items()}
