"""Peak memory of a CloudProxy replica's process by adapter kind: its own SDK only, or all three.

Each figure comes from a fresh Python process that imports what a CloudProxy replica imports
(Ray, Ray Serve, `deployments.cloud.proxy`) and builds one `CloudProxy`, then reads the kernel's
`VmHWM` (peak resident set) and `VmRSS` from `/proc/self/status`. "every SDK" first imports the
three adapter modules, as the registry did before it imported by kind; "own SDK" does not.

    .venv/bin/python -m benchmarks.adapter_memory [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

KINDS = ("openai", "anthropic", "google")

_PROBE = """
import json, sys
import ray
from ray import serve
if sys.argv[2] == "every":
    import deployments.cloud.anthropic_adapter, deployments.cloud.google_adapter
    import deployments.cloud.openai_adapter
from deployments.cloud.proxy import CloudProxy
CloudProxy("p", sys.argv[1], "http://127.0.0.1:9/v1", None, api_key="sk-unused")
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({key: int(status[key].split()[0]) // 1024 for key in ("VmHWM", "VmRSS")}))
"""


def measure(kind: str, sdks: str) -> dict[str, int]:
    """{"VmHWM": MiB, "VmRSS": MiB} of a fresh process that built one `kind` CloudProxy."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, kind, sdks], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    print(
        f"{'kind':<10} {'every SDK (MiB)':>16} {'own SDK (MiB)':>14} {'saved':>6}   VmHWM medians"
    )
    for kind in KINDS:
        every = [measure(kind, "every")["VmHWM"] for _ in range(rounds)]
        own = [measure(kind, "own")["VmHWM"] for _ in range(rounds)]
        before, after = statistics.median(every), statistics.median(own)
        print(f"{kind:<10} {before:>16.0f} {after:>14.0f} {before - after:>6.0f}   {every} {own}")


if __name__ == "__main__":
    main()
