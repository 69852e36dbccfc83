"""CPU an idle replica spends per second: Switchyard's Ingress and CloudProxy against the bare
forwarder's two deployments, on one local cluster, with no request sent.

What Switchyard spends here is its background work, paid whatever the load: the rounds with the
ProviderHealth, Allowances and CostLedger actors, and the metrics flush. Divided by a load's
requests per second, it is that background's share of the CPU per request.

    .venv/bin/python -m benchmarks.idle_cpu [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import processes
from benchmarks.overhead import FORWARDER, SWITCHYARD, start_default_cluster
from benchmarks.servers import start_sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle_cpu")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to watch")
    parser.add_argument("--settle", type=float, default=10.0, help="wait this long first")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchyard-idle-"))
    upstream = start_sandbox(work)
    try:
        cluster = start_default_cluster(upstream, work / "ledger.sqlite")
        pids = {
            f"{app} {label}": found[0]
            for app in (SWITCHYARD, FORWARDER)
            for label, found in cluster["pids"][app].items()
            if label != "proxy" and found
        }
        time.sleep(args.settle)  # start-up work (replicas, actors, first rounds) is over
        before = {name: processes.cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
        time.sleep(args.seconds)
        after = {name: processes.cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
    finally:
        from serve_app.dev.local_cluster import stop_local_cluster

        stop_local_cluster()
        upstream.stop()
    for name in pids:
        spent_ms = (after[name] - before[name]) * 1000 / args.seconds
        print(f"{name}: {spent_ms:.1f} ms CPU per second, idle")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
