"""CPU per request of every process on the machine's cluster during a burst, by process.

`benchmarks.overhead` counts the processes on each contender's path (ingress, the deployment
behind it, the sandbox). At 32 concurrent on two cores the burst is bounded by the whole
machine's CPU, so its req/s follows the CPU *all* processes spend per request: the path, the
actors Switchyard's Ingress talks to in the background (CostLedger, Allowances, ProviderHealth),
Serve's controller and Ray's own daemons. This prints that, per process title, for the bare
forwarder and Switchyard in turn (alternating, `--pairs` times), on the cluster and settings of
`benchmarks.overhead`.

    .venv/bin/python -m benchmarks.machine_cpu [--requests 3000] [--concurrency 32] [--pairs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks import processes
from benchmarks.load import Plan
from benchmarks.overhead import FORWARDER, SWITCHYARD, start_default_cluster, targets, tenant_key
from benchmarks.runner import run_load
from benchmarks.servers import start_sandbox


def titles(root_pid: int) -> dict[int, str]:
    """Every descendant of `root_pid` by its process title (`ray::<actor>` for Ray's workers)."""
    found = {}
    for pid in processes.children(root_pid):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        # Ray retitles an actor's process while it runs a method ("ray::X.method"): one name.
        found[pid] = title.split(".")[0] if title.startswith("ray::") else Path(title).name
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.machine_cpu")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchyard-machine-cpu-"))
    upstream = start_sandbox(work)
    try:
        cluster = start_default_cluster(upstream, work / "ledger.sqlite")
        key = tenant_key(cluster["switchyard_direct"] or cluster["proxy_url"])
        by_name = {t.name: t for t in targets(cluster, upstream, None, args.max_tokens, key, key)}
        time.sleep(5)  # start-up's work is over
        for name in [FORWARDER, SWITCHYARD] * args.pairs:
            procs = titles(os.getpid())
            procs[upstream.pid] = "sandbox (the upstream)"
            before = {pid: processes.cpu_seconds(pid) for pid in procs}
            plan = Plan([by_name[name]], ["concurrent"], 1, args.requests, args.concurrency, 0)
            samples = run_load(plan)["samples"][name]
            after = {pid: processes.cpu_seconds(pid) for pid in procs}
            done, seconds = samples["bursts"][-1]
            per_title: dict[str, float] = {}
            for pid, title in procs.items():
                start, end = before[pid], after[pid]
                if start is not None and end is not None:
                    per_title[title] = per_title.get(title, 0.0) + (end - start) * 1000 / done
            total = sum(per_title.values())
            print(f"{name}: {done / seconds:.0f} req/s, {total:.2f} ms CPU per request in all")
            for title, ms in sorted(per_title.items(), key=lambda item: -item[1]):
                if ms >= 0.05:
                    print(f"  {ms:6.2f}  {title}")
    finally:
        from serve_app.dev.local_cluster import stop_local_cluster

        stop_local_cluster()
        upstream.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
