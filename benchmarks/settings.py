"""What each Ray Serve setting changes for Switchyard, measured side by side in one cluster.

    .venv/bin/python -m benchmarks.settings --requests 400 --rounds 4 --out /tmp/settings.json

Most of Ray Serve's throughput switches are read by each replica process when it starts
(`RAY_SERVE_USE_GRPC_BY_DEFAULT`, `RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD`, …), so they can
be given per deployment (`DeploymentSettings.env_vars`, a runtime_env). That lets one cluster hold
several copies of Switchyard, one per combination of settings, and one run interleave them — so
that a noisy neighbour on the machine hits every variant alike, which comparing separate runs
cannot promise. Direct ingress is the exception: the controller reads it, so it is on for the
whole cluster here, and its effect is read from the same variant reached through Serve's proxy.

Each variant proxies only the provider the benchmark calls (`groq`, behind the `fast` shortcut),
to keep the cluster small on a 2-core machine; the full app is `benchmarks.overhead`'s business.

Reported per variant: sequential p50/p99, TTFT p50 (streamed), requests/s at `--concurrency`
(median over rounds of solo bursts, the order rotated each round), and CPU milliseconds per
request of the Ingress and CloudProxy replicas during those bursts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import processes
from benchmarks.load import Plan, Target
from benchmarks.report import percentile
from benchmarks.runner import measured_burst, run_load
from benchmarks.servers import Server, free_port, start_sandbox

# Ray Serve's own defaults; DeploymentSettings adds serve_app.app.builder.FAST_PATH_ENV over
# them unless told otherwise, so every variant states all three.
DEFAULTS = {
    "RAY_SERVE_USE_GRPC_BY_DEFAULT": "0",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1",
}
GRPC = {"RAY_SERVE_USE_GRPC_BY_DEFAULT": "1"}
INLINE = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}
ROUTER = {"RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"}
# Serve writes an access-log line per request per replica, flushed one by one and copied to
# stderr; buffered and file-only is what RAY_SERVE_THROUGHPUT_OPTIMIZED picks.
LOGS = {"RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000", "RAY_SERVE_LOG_TO_STDERR": "0"}
NO_UVLOOP = {"RAY_USE_UVLOOP": "0"}


@dataclass(frozen=True)
class Variant:
    name: str
    ingress_env: dict[str, str] = field(default_factory=dict)
    proxy_env: dict[str, str] = field(default_factory=dict)
    ingress_replicas: int = 1
    note: str = ""
    # False: the variant's env alone over FAST_PATH_ENV, for a bundle whose defaults DEFAULTS'
    # explicit values would override.
    over_defaults: bool = True

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return (DEFAULTS if self.over_defaults else {}) | extra


VARIANTS = {
    v.name: v
    for v in (
        Variant("default", note="Ray Serve's defaults (actor calls between replicas)"),
        Variant("grpc", GRPC, note="Ingress→CloudProxy handle calls over gRPC"),
        Variant("grpc+inline", GRPC | INLINE, INLINE, note="+ user code on the replica's loop"),
        Variant(
            "grpc+inline+router",
            GRPC | INLINE | ROUTER,
            INLINE,
            note="+ the handle's router on that loop too",
        ),
        Variant(
            "grpc+inline+router+logbuf",
            GRPC | INLINE | ROUTER | LOGS,
            INLINE | LOGS,
            note="+ request logs buffered (1000 lines), not copied to stderr",
        ),
        Variant(
            "throughput-optimized",
            {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
            {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
            note="Ray's bundle: grpc+inline+router+logbuf, GC frozen after start-up",
            over_defaults=False,
        ),
        Variant(
            "grpc+inline-no-uvloop",
            GRPC | INLINE | NO_UVLOOP,
            INLINE | NO_UVLOOP,
            note="asyncio's own loop instead of uvloop",
        ),
        Variant(
            "grpc+inline x2 ingress",
            GRPC | INLINE,
            INLINE,
            ingress_replicas=2,
            note="two Ingress replicas (through the proxy, which balances them)",
        ),
    )
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.settings", description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per variant and phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {list(VARIANTS)}"
    )
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def deploy(variants: list[Variant], upstream: Server, work: Path) -> dict[str, dict[str, Any]]:
    """Every variant as its own Serve app on one cluster; each one's URL and replica PIDs."""
    # Direct ingress is the controller's setting: start_local_cluster turns it on for the cluster.
    from ray import serve

    from serve_app.app.builder import AppArgs, DeploymentSettings, build_app
    from serve_app.dev.local_cluster import ingress_urls, serve_details, start_local_cluster

    proxy_url = start_local_cluster(http_port=free_port())
    deployed: dict[str, dict[str, Any]] = {}
    for n, variant in enumerate(variants):
        app_name, prefix = f"variant{n}", f"/variant{n}"
        args = AppArgs(
            providers=["groq"],
            sandbox_urls=upstream.extra,
            ledger_path=str(work / "ledger.sqlite"),
            ingress=DeploymentSettings(
                num_replicas=variant.ingress_replicas, env_vars=variant.env(variant.ingress_env)
            ),
            cloud_proxy=DeploymentSettings(env_vars=variant.env(variant.proxy_env)),
            # Background rounds with the cluster's actors every second rather than every 0.1 s:
            # eight copies of the app would otherwise keep those actors, and a core, busy, and
            # that noise is not what is compared here.
            health_sync_s=1.0,
            ledger_flush_s=1.0,
            allowance_sync_s=1.0,
        )
        serve.run(build_app(args), name=app_name, route_prefix=prefix)
        details = serve_details()
        direct = ingress_urls(app_name)
        pids = {
            f"ingress#{i}" if variant.ingress_replicas > 1 else "ingress": pid
            for i, pid in enumerate(processes.replica_pids(details, app_name, "ingress"))
        }
        pids["cloud-groq"] = processes.replica_pids(details, app_name, "cloud-groq")[0]
        # Several Ingress replicas are reached through the proxy, which spreads the load.
        via_proxy = variant.ingress_replicas > 1 or not direct
        deployed[variant.name] = {
            "url": (proxy_url + prefix) if via_proxy else direct[0],
            "proxy_url": proxy_url + prefix,
            "pids": pids,
            "proxy_pids": processes.titled(os.getpid(), "ray::ProxyActor"),
        }
    return deployed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = [VARIANTS[name] for name in args.variants.split(",")]
    work = Path(tempfile.mkdtemp(prefix="switchyard-settings-"))
    upstream = start_sandbox(work)
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": "Say hello to a new customer in a few words."}],
        "max_tokens": 32,
    }
    chat = "/v1/chat/completions"
    report: dict[str, Any] = {"args": {**vars(args), "out": str(args.out)}}
    try:
        deployed = deploy(variants, upstream, work)
        targets = [Target(v.name, deployed[v.name]["url"] + chat, body) for v in variants]
        first = variants[0].name
        targets.append(Target(f"{first}-via-proxy", deployed[first]["proxy_url"] + chat, body))
        report["loadavg_before"] = os.getloadavg()
        print(f"load average before the run: {os.getloadavg()}", file=sys.stderr)
        # Latency and TTFT: every variant request by request in turn.
        plan = Plan(targets, ["sequential", "stream"], args.rounds, args.requests, 1)
        samples = run_load(plan)["samples"]
        # Throughput and CPU: one solo burst per variant per round, the order rotated.
        bursts: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        per_round = max(1, args.requests // args.rounds)
        for round_number in range(args.rounds):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                name = target.name.removesuffix("-via-proxy")
                pids = dict(deployed[name]["pids"])
                if target.name.endswith("-via-proxy") or target.url.startswith(
                    deployed[name]["proxy_url"]
                ):
                    pids["proxy"] = deployed[name]["proxy_pids"][0]
                bursts[target.name].append(
                    measured_burst(target, pids, per_round, args.concurrency)
                )
        report["loadavg_after"] = os.getloadavg()
    finally:
        from serve_app.dev.local_cluster import stop_local_cluster

        stop_local_cluster()
        upstream.stop()

    rows = summarize(targets, samples, bursts)
    report["variants"] = {v.name: asdict(v) for v in variants}
    report["results"] = rows
    print(render(rows, args.concurrency))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwritten: {args.out}")
    return 0


def summarize(
    targets: list[Target], samples: dict[str, Any], bursts: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for target in targets:
        s, runs = samples[target.name], bursts[target.name]
        cpu: dict[str, list[float]] = {}
        for run in runs:
            for label, ms in run["cpu_ms_per_request"].items():
                cpu.setdefault(label, []).append(ms)
        rows[target.name] = {
            "p50_ms": percentile(s["latency_ms"], 50),
            "p99_ms": percentile(s["latency_ms"], 99),
            "ttft_p50_ms": percentile(s["ttft_ms"], 50),
            "rps": statistics.median(r["rps"] for r in runs),
            "rps_all": [round(r["rps"], 1) for r in runs],
            "cpu_ms_per_request": {k: statistics.median(v) for k, v in cpu.items()},
            "errors": len(s["errors"]) + sum(r["errors"] for r in runs),
            "first_errors": (s["errors"] + [e for r in runs for e in r["first_errors"]])[:3],
        }
    return rows


def render(rows: dict[str, dict[str, Any]], concurrency: int) -> str:
    lines = [
        f"| variant | p50 ms | p99 ms | TTFT p50 ms | req/s at {concurrency} | "
        "CPU ms/request (median of rounds) | errors |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, row in rows.items():
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in row["cpu_ms_per_request"].items())
        lines.append(
            f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['ttft_p50_ms']:.2f} | "
            f"{row['rps']:.0f} | {cpu} | {row['errors']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
