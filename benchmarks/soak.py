"""The soak: minutes of steady mixed load on the app the chaos suite runs, watching every
Switchyard process's memory and open descriptors, and the ledger against the answered calls.

    .venv/bin/python -m benchmarks.soak --minutes 30 --out /tmp/soak.json

The app is the integration tests' and the chaos suite's (`session_app_args` in
tests/integration/conftest.py): the sandbox providers over loopback, two Ingress replicas, one
CloudProxy replica per provider, the tiny CPU stand-in behind `workhorse` when vLLM is installed,
auth on. Calls go through Serve's proxy with a tenant key made through the admin API, as a
caller outside the cluster makes them.

Load: `--concurrency` callers, each sending its next call `--pause-s` after its last answer (a
steady closed loop, not a saturation test), cycling through plain and streamed calls to `fast`,
`cheap`, `code`, `smart` — whose primary the sandbox fails with HTTP 500 for the whole run, so
every `smart` call fails over — and, with vLLM, short streamed calls to `workhorse`.

Every `--sample-s` seconds: RSS and open file descriptors of every living Ray actor of the app
(both Ingress replicas, the CloudProxy and LocalModel replicas, ProviderHealth, CostLedger,
Allowances, Serve's controller and proxy) and of their child processes (vLLM's engine core),
found through Ray's state API, so that a restarted process shows as a new series.

At the end the app is shut down gracefully (`serve.shutdown`, then Ray), and the ledger's SQLite
file is read directly: every answered call must have exactly one `ok` record. Journal lines left
on disk after the stop (records the ledger never acknowledged) are counted too.

It starts its own Ray cluster: run it alone on the machine (under /tmp/work/ray.lock here). On a
shared machine it is a soak, not a timing: the call rates it reports are not the app's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.chaos import commit, machine
from benchmarks.soak_figures import (
    ProcessFigures,
    Sample,
    calls_table,
    plot_rss,
    process_figures,
    process_table,
)
from tests.chaos.load import CallOutcome, CallSpec, Seen, one_call
from tests.chaos.tally import OK, Row, read_rows, tally

TENANT = "soak"
FAILOVER_SHORTCUT = "smart"  # its primary answers HTTP 500 all run long
LOCAL_SHORTCUT = "workhorse"
LOCAL_MAX_TOKENS = 16  # the tiny CPU model: short answers keep its share of the load light
SEEN_COLUMNS = tuple(s.value for s in Seen)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--concurrency", type=int, default=24, help="callers at a time")
    parser.add_argument("--pause-s", type=float, default=0.25, help="each caller's pause")
    parser.add_argument("--sample-s", type=float, default=10.0, help="between process samples")
    parser.add_argument("--out", type=Path, required=True, help="the JSON report")
    parser.add_argument("--png", type=Path, default=None, help="RSS plot (default: beside --out)")
    return parser.parse_args(argv)


def call_mix(local: bool) -> list[CallSpec]:
    """One round of the mixed load; the callers go through it in turn."""
    specs = [
        CallSpec(TENANT, stream=False, model="fast", content="a soak call"),
        CallSpec(TENANT, stream=True, model="fast", content="a soak call"),
        CallSpec(TENANT, stream=False, model="cheap", content="a soak call"),
        CallSpec(TENANT, stream=True, model="code", content="a soak call"),
        CallSpec(TENANT, stream=False, model=FAILOVER_SHORTCUT, content="a soak call"),
        CallSpec(TENANT, stream=True, model=FAILOVER_SHORTCUT, content="a soak call"),
    ]
    if local:
        specs.append(
            CallSpec(TENANT, stream=True, model=LOCAL_SHORTCUT, max_tokens=LOCAL_MAX_TOKENS)
        )
    return specs


def kind(spec: CallSpec) -> str:
    return f"{spec.model} {'streamed' if spec.stream else 'plain'}"


def switchyard_processes() -> dict[int, str]:
    """PID -> label for every living actor of the cluster and its children. Serve replicas are
    labelled by deployment, the rest by class (ServeController, ProxyActor, ProviderHealth,
    CostLedger, Allowances)."""
    from ray.util.state import list_actors

    found: dict[int, str] = {}
    for actor in list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=10_000):
        if not actor.pid:
            continue
        name = str(actor.class_name)
        label = name.rsplit(":", 1)[-1] if name.startswith("ServeReplica:") else name
        found[int(actor.pid)] = label
        try:
            for child in psutil.Process(int(actor.pid)).children(recursive=True):
                found[child.pid] = f"{label} > {child.name()}"
        except psutil.Error:
            continue
    return found


def measure(pid: int) -> tuple[float, int] | None:
    """(RSS in MB, open descriptors), or None for a process gone or not ours to read."""
    try:
        process = psutil.Process(pid)
        return process.memory_info().rss / 2**20, process.num_fds()
    except psutil.Error:
        return None


class Watch:
    """Every process's samples, by PID (a restarted process is a new PID, so a new series)."""

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}
        self.samples: dict[int, list[Sample]] = defaultdict(list)

    def sample(self, t_s: float) -> None:
        for pid, label in switchyard_processes().items():
            reading = measure(pid)
            if reading is not None:
                self.labels[pid] = label
                self.samples[pid].append(Sample(t_s, *reading))

    def ordered(self) -> list[int]:
        return sorted(self.samples, key=lambda pid: (self.labels[pid], pid))


async def steady_load(
    url: str,
    key: str,
    specs: list[CallSpec],
    args: argparse.Namespace,
    until: float,
    outcomes: list[CallOutcome],
) -> None:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    headers = {"authorization": f"Bearer {key}"}
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:

        async def caller() -> None:
            while time.monotonic() < until:
                spec = specs[next(turn) % len(specs)]
                outcomes.append(await one_call(client, url, spec))
                await asyncio.sleep(args.pause_s)

        await asyncio.gather(*(caller() for _ in range(args.concurrency)))


async def soak(
    url: str, key: str, specs: list[CallSpec], args: argparse.Namespace, watch: Watch
) -> tuple[list[CallOutcome], float]:
    """Runs the load while sampling the processes; the outcomes and the load's seconds."""
    outcomes: list[CallOutcome] = []
    started = time.monotonic()
    until = started + args.minutes * 60
    load = asyncio.ensure_future(steady_load(url, key, specs, args, until, outcomes))
    while not load.done():
        await asyncio.to_thread(watch.sample, time.monotonic() - started)
        print(
            f"  {(time.monotonic() - started) / 60:5.1f} min: {len(outcomes)} calls done",
            flush=True,
        )
        await asyncio.wait({load}, timeout=args.sample_s)
    await load
    elapsed = time.monotonic() - started
    await asyncio.to_thread(watch.sample, elapsed)
    return outcomes, elapsed


def tenant_key(url: str, admin_key: str) -> str:
    response = httpx.post(
        f"{url}/v1/admin/keys",
        json={"tenant": TENANT, "name": "soak benchmark"},
        headers={"authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["key"])


def journal_lines_left(ledger_path: Path) -> int:
    from deployments.ledger.journal import SEGMENT_SUFFIX, journal_root

    root = journal_root(ledger_path)
    if not root.exists():
        return 0
    return sum(
        len(segment.read_text().splitlines()) for segment in root.glob(f"*/*{SEGMENT_SUFFIX}")
    )


def ledger_report(
    outcomes: list[CallOutcome], rows: list[Row], ledger_path: Path
) -> dict[str, Any]:
    truth = tally("soak", outcomes, rows, budget_tenant="", budget_usd=0.0, reservation_usd=0.0)
    return {
        "answered_calls": truth.answered,
        "ok_rows": sum(1 for row in rows if row.outcome == OK),
        "rows_by_outcome": dict(Counter(row.outcome for row in rows)),
        "answered_without_record": truth.answered_without_record,  # must be 0
        "counted_twice": truth.counted_twice,  # must be 0
        "answered_without_call_id": truth.answered_without_call_id,  # must be 0
        "silent_stream_ends": truth.silent_stream_ends,  # must be 0
        "journal_lines_left": journal_lines_left(ledger_path),
        "errors": truth.errors,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray import serve

    from deployments.sandbox.server import start_sandboxes
    from directory.loader import load_directory
    from serve_app.app.builder import APP_NAME, build_app
    from serve_app.dev.local_cluster import start_local_cluster, stop_local_cluster
    from tests.integration.conftest import session_app_args, write_test_directory

    work = Path(tempfile.mkdtemp(prefix="switchyard-soak-"))
    (work / "directory").mkdir()
    folder = write_test_directory(work / "directory")
    ledger_path = work / "ledger.sqlite"
    admin_key = "sy-admin-soak-" + secrets.token_urlsafe(32)  # this run's; never printed
    watch = Watch()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with start_sandboxes() as sandboxes:
        url = start_local_cluster(num_cpus=4, http_port=None, dashboard=True)
        try:
            directory = load_directory(folder)
            app_args = session_app_args(folder, directory, sandboxes, ledger_path, admin_key)
            print("Deploying the app (the CPU stand-in model takes a minute or two)…", flush=True)
            serve.run(build_app(app_args), name=APP_NAME, route_prefix="/")
            primary = directory.chain(FAILOVER_SHORTCUT)[0]
            sandboxes.script(
                directory.providers[primary.provider].adapter,
                primary.provider_model,
                fault="http_500",
            )
            specs = call_mix(local=bool(app_args.local_models))
            key = tenant_key(url, admin_key)
            print(f"Load: {args.minutes:g} min, {args.concurrency} callers, via {url}", flush=True)
            outcomes, load_s = asyncio.run(soak(url, key, specs, args, watch))
            rows_at_load_end = len(read_rows(ledger_path, [TENANT]))
        finally:
            print("Stopping the app gracefully (serve.shutdown, then Ray)…", flush=True)
            stop_local_cluster()
    rows = read_rows(ledger_path, [TENANT])
    midpoint = load_s / 2
    figures = [
        process_figures(watch.labels[pid], pid, watch.samples[pid], midpoint)
        for pid in watch.ordered()
    ]
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        by_kind[kind(outcome.spec)][outcome.seen.value] += 1
    return {
        "command": "python -m benchmarks.soak " + " ".join(sys.argv[1:]),
        "started": started,
        "commit": commit(),
        "machine": machine(),
        "loadavg_at_end": os.getloadavg(),
        "settings": {
            "minutes": args.minutes,
            "concurrency": args.concurrency,
            "pause_s": args.pause_s,
            "sample_s": args.sample_s,
            "failover": f"{FAILOVER_SHORTCUT}: primary {primary.id} answers HTTP 500",
            "local_model": bool(app_args.local_models),
        },
        "load_s": load_s,
        "calls_by_kind": {k: dict(v) for k, v in by_kind.items()},
        "ledger_rows_at_load_end": rows_at_load_end,
        "ledger": ledger_report(outcomes, rows, ledger_path),
        "processes": [asdict(f) for f in figures],
        "samples": {
            f"{watch.labels[pid]} ({pid})": [asdict(s) for s in watch.samples[pid]]
            for pid in watch.ordered()
        },
    }


def render(report: dict[str, Any]) -> str:
    ledger = report["ledger"]
    calls = sum(sum(v.values()) for v in report["calls_by_kind"].values())
    return "\n\n".join(
        [
            f"Soak: {report['load_s'] / 60:.1f} min of load, {calls} calls "
            f"({calls / report['load_s']:.1f}/s), commit {report['commit']}, "
            f"{report['machine']}",
            calls_table(report["calls_by_kind"], SEEN_COLUMNS),
            process_table([ProcessFigures(**p) for p in report["processes"]]),
            f"Ledger after the graceful stop: {ledger['ok_rows']} `ok` rows for "
            f"{ledger['answered_calls']} answered calls; answered without a record "
            f"{ledger['answered_without_record']}, counted twice {ledger['counted_twice']}, "
            f"silent stream ends {ledger['silent_stream_ends']}; all rows by outcome "
            f"{ledger['rows_by_outcome']}; journal lines left on disk "
            f"{ledger['journal_lines_left']} (rows when the load ended: "
            f"{report['ledger_rows_at_load_end']}).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    args.out.write_text(json.dumps(report, indent=1))
    png = args.png or args.out.with_suffix(".png")
    plot_rss(
        {label: [Sample(**s) for s in samples] for label, samples in report["samples"].items()},
        png,
    )
    print(render(report))
    print(f"\nJSON: {args.out}  RSS plot: {png}")
    ledger = report["ledger"]
    exact = (
        ledger["ok_rows"] == ledger["answered_calls"]
        and ledger["answered_without_record"] == 0
        and ledger["counted_twice"] == 0
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
