"""The overhead benchmark: Switchyard against the bare upstream, a bare Ray Serve forwarder and
LiteLLM's proxy, side by side and interleaved in one run.

    .venv/bin/python -m benchmarks.overhead --requests 600 --concurrency 32 --rounds 6 \\
        --out /tmp/overhead.json

What runs (all on 127.0.0.1):

- the OpenAI-protocol sandbox upstream, in a process of its own (`python -m deployments.sandbox`);
- one local Ray cluster (`serve_app.dev.local_cluster.start_local_cluster`, so the same cluster
  settings as `switchyard serve`/`demo`) holding two Serve apps: Switchyard itself (sandbox mode,
  every provider proxied, as the demo runs it) and the bare forwarder (`benchmarks.forwarder`);
- LiteLLM's proxy (1 worker) from `.venv-litellm`, when that environment exists;
- the load generator (`benchmarks.load`), in a process of its own.

Contenders: `upstream` (the sandbox, direct), `forwarder`, `forwarder-sdk` (the forwarder with
the OpenAI SDK in its upstream deployment, as in Switchyard's CloudProxy: the floor of the shape
with the SDK the mission requires; a baseline, not a goal), `switchyard`, `litellm`. Switchyard
and the forwarders are reached on the fast path (Serve's direct-ingress port when it is on); when
it is on, `…-via-proxy` reach them through Serve's proxy as well, and `switchyard-front-door`
through the front door `switchyard serve` prints (a relay in this process to that port).

Measured: sequential p50/p99 (non-streamed), requests/s at `--concurrency` (non-streamed), TTFT
p50 of streamed answers, and the peak resident memory of the processes on each path — after the
main run, and again during a burst at `--memory-concurrency` (design §9: Ingress and CloudProxy
replicas under 350 MB at 200 concurrent).

Fast-path experiments: `--ray-env KEY=VALUE` sets an environment variable before Ray starts (for
the whole cluster); `--ingress`/`--cloud-proxy` override Switchyard's deployment settings (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import cpu_profile, processes
from benchmarks.load import Plan, Target
from benchmarks.report import Figures, cpu_ratio, ratios, rounds_table, table, verdicts
from benchmarks.runner import measured_burst, run_load
from benchmarks.servers import (
    Server,
    free_port,
    litellm_installed,
    start_litellm,
    start_sandbox,
)

SHORTCUT = "fast"  # resolves to groq/gpt-oss-20b: an OpenAI-compatible provider (openai SDK)
PROMPT = [{"role": "user", "content": "Say hello to a new customer in a few words."}]
MAX_TOKENS = 32  # the sandbox's usual answer; `--max-tokens 8` is the tiny workload
SWITCHYARD, FORWARDER, FORWARDER_SDK = "switchyard", "forwarder", "forwarder-sdk"
FORWARDER_PREFIX, FORWARDER_SDK_PREFIX = "/forwarder", "/forwarder-sdk"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__)
    parser.add_argument("--requests", type=int, default=600, help="per contender and phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--max-tokens", type=int, default=MAX_TOKENS, help="the answer's length (the workload)"
    )
    parser.add_argument("--memory-concurrency", type=int, default=200)
    parser.add_argument("--memory-requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ingress", type=json.loads, default=None, help="DeploymentSettings JSON")
    parser.add_argument("--cloud-proxy", type=json.loads, default=None)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument(
        "--contenders",
        default="",
        help="comma-separated subset (upstream,forwarder,switchyard,litellm,…-via-proxy)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="also profile the Switchyard and forwarder processes with py-spy during a burst "
        "(raw samples under DIR/<contender>/)",
    )
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    """What the run ran on and beside: cores, load, the busiest other processes."""
    top = subprocess.run(
        ["ps", "-eo", "pcpu,rss,comm", "--sort=-pcpu", "--no-headers"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[:8]
    return {"cores": os.cpu_count(), "loadavg": os.getloadavg(), "busiest": top}


# Switchyard runs with auth on, as deployed: the admin key is this run's, and every Switchyard
# target sends a tenant key (`tenant_key`), so the key check is part of what is measured. Neither
# key goes into the report.
ADMIN_KEY = "sy-admin-bench-" + secrets.token_urlsafe(32)


def tenant_key(url: str, **limits: int) -> str:
    """A tenant key made through the admin API, as `switchyard keys create` makes one."""
    import httpx

    response = httpx.post(
        f"{url}/v1/admin/keys",
        json={"tenant": "bench", "name": "overhead benchmark", **limits},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["key"])


def start_cluster(args: argparse.Namespace, upstream: Server, ledger: Path) -> dict[str, Any]:
    """Ray, Serve, Switchyard and the forwarder; returns URLs and the PIDs on each path."""
    # Ray reads its settings from the environment when each process starts: set them first.
    for item in args.ray_env:
        key, _, value = item.partition("=")
        os.environ[key] = value
    from ray import serve

    from benchmarks.forwarder import build_forwarder
    from serve_app.app.builder import AppArgs, build_app
    from serve_app.dev.local_cluster import (
        ingress_urls,
        open_front_door,
        serve_details,
        start_local_cluster,
    )
    from serve_app.identity.keys import key_hash

    proxy_url = start_local_cluster(http_port=free_port())
    overrides: dict[str, Any] = {}
    if args.ingress is not None:
        overrides["ingress"] = args.ingress
    if args.cloud_proxy is not None:
        overrides["cloud_proxy"] = args.cloud_proxy
    app_args = AppArgs(
        sandbox_urls=upstream.extra,
        ledger_path=str(ledger),
        admin_key_sha256=key_hash(ADMIN_KEY),
        **overrides,
    )
    serve.run(build_app(app_args), name=SWITCHYARD, route_prefix="/")
    for name, prefix, sdk in (
        (FORWARDER, FORWARDER_PREFIX, False),
        (FORWARDER_SDK, FORWARDER_SDK_PREFIX, True),
    ):
        serve.run(
            build_forwarder(upstream.extra["openai"], app_args, sdk=sdk),
            name=name,
            route_prefix=prefix,
        )
    details = serve_details()
    sy_direct, fw_direct = ingress_urls(SWITCHYARD), ingress_urls(FORWARDER)
    sdk_direct = ingress_urls(FORWARDER_SDK)
    return {
        "proxy_url": proxy_url,
        # What `switchyard serve` prints: its front door, in this (the driver's) process.
        "switchyard_front_door": open_front_door(SWITCHYARD).url,
        "switchyard_direct": sy_direct[0] if sy_direct else None,
        "forwarder_direct": fw_direct[0] if fw_direct else None,
        "forwarder-sdk_direct": sdk_direct[0] if sdk_direct else None,
        "app_args": app_args.model_dump(
            mode="json", exclude={"sandbox_urls", "ledger_path", "admin_key_sha256"}
        ),
        # What the replicas actually run with: DeploymentSettings adds FAST_PATH_ENV.
        "replica_env": {
            "ingress": app_args.ingress.options()["ray_actor_options"]["runtime_env"],
            "cloud_proxy": app_args.cloud_proxy.options()["ray_actor_options"]["runtime_env"],
        },
        "pids": {
            "switchyard": {
                "ingress": processes.replica_pids(details, SWITCHYARD, "ingress"),
                "cloud-groq": processes.replica_pids(details, SWITCHYARD, "cloud-groq"),
                "proxy": processes.titled(os.getpid(), "ray::ProxyActor"),
            },
            **{
                app: {
                    "ingress": processes.replica_pids(details, app, f"{prefix}-ingress"),
                    "upstream": processes.replica_pids(details, app, f"{prefix}-upstream"),
                    "proxy": processes.titled(os.getpid(), "ray::ProxyActor"),
                }
                # build_forwarder's deployment names
                for app, prefix in ((FORWARDER, "forward"), (FORWARDER_SDK, "forward-sdk"))
            },
        },
    }


def start_default_cluster(upstream: Server, ledger: Path) -> dict[str, Any]:
    """`start_cluster` with Switchyard's shipped settings (no `--ray-env` or overrides)."""
    options = argparse.Namespace(ray_env=[], ingress=None, cloud_proxy=None)
    return start_cluster(options, upstream, ledger)


def targets(
    cluster: dict[str, Any],
    upstream: Server,
    litellm: Server | None,
    max_tokens: int,
    key: str,
    limited_key: str,
) -> list[Target]:
    """Every contender; `key` is the tenant key each Switchyard target sends, `limited_key` one
    with rpm/tpm limits too high to refuse anything, so that the rate limits' leases are measured
    beside the same app called without them."""
    upstream_body = {"model": "openai/gpt-oss-20b", "messages": PROMPT, "max_tokens": max_tokens}
    gateway_body = {**upstream_body, "model": SHORTCUT}
    keyed = {"authorization": f"Bearer {key}"}
    chat = "/v1/chat/completions"
    proxy = cluster["proxy_url"]
    found = [
        Target("upstream", upstream.extra["openai"] + "/chat/completions", upstream_body),
        Target(
            FORWARDER,
            # A direct-ingress URL already carries the app's route prefix.
            (cluster["forwarder_direct"] or proxy + FORWARDER_PREFIX) + chat,
            upstream_body,
        ),
        Target(
            FORWARDER_SDK,
            (cluster["forwarder-sdk_direct"] or proxy + FORWARDER_SDK_PREFIX) + chat,
            upstream_body,
        ),
        Target(SWITCHYARD, (cluster["switchyard_direct"] or proxy) + chat, gateway_body, keyed),
        Target(
            "switchyard-rate-limited",
            (cluster["switchyard_direct"] or proxy) + chat,
            gateway_body,
            {"authorization": f"Bearer {limited_key}"},
        ),
    ]
    if cluster["switchyard_direct"]:
        door = cluster["switchyard_front_door"]
        found += [
            Target("forwarder-via-proxy", proxy + FORWARDER_PREFIX + chat, upstream_body),
            Target("switchyard-via-proxy", proxy + chat, gateway_body, keyed),
            Target("switchyard-front-door", door + chat, gateway_body, keyed),
        ]
    if litellm is not None:
        auth = {"authorization": f"Bearer {litellm.extra['master_key']}"}
        found.append(Target("litellm", litellm.root_url + chat, gateway_body, headers=auth))
    return found


def memory_pids(
    cluster: dict[str, Any], upstream: Server, litellm: Server | None
) -> dict[str, dict[str, int]]:
    """Contender -> {process label: PID}: the processes each request passes through."""
    out: dict[str, dict[str, int]] = {"upstream": {"sandbox": upstream.pid}}
    for app in (FORWARDER, FORWARDER_SDK, SWITCHYARD):
        labelled: dict[str, int] = {}
        for label, pids in cluster["pids"][app].items():
            if label == "proxy" and cluster[f"{app}_direct"]:
                continue  # direct ingress: the proxy is not on this contender's path
            for n, pid in enumerate(pids):
                labelled[label if len(pids) == 1 else f"{label}#{n}"] = pid
        out[app] = labelled
        via = dict(labelled)
        for n, pid in enumerate(cluster["pids"][app]["proxy"]):  # one: the head node's
            via["proxy" if n == 0 else f"proxy#{n}"] = pid
        out[f"{app}-via-proxy"] = via
    if litellm is not None:
        out["litellm"] = {"litellm": litellm.pid}
        out["litellm"].update(
            {f"litellm-child#{n}": p for n, p in enumerate(processes.children(litellm.pid))}
        )
    return out


def peaks(pids: dict[str, int]) -> dict[str, float]:
    return {
        label: mb for label, pid in pids.items() if (mb := processes.peak_rss_mb(pid)) is not None
    }


def profile(
    target: Target, pids: dict[str, int], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """py-spy on one contender's processes during one burst at `--concurrency`: the share of
    each one's CPU samples by whose code was running (`benchmarks.cpu_profile`); the raw samples
    under `--py-spy`/<contender>/."""
    assert args.py_spy is not None
    plan = Plan([target], ["concurrent"], 1, args.requests, args.concurrency, warmup=0)
    raws = cpu_profile.record(pids, args.py_spy / target.name, lambda: run_load(plan))
    return {label: cpu_profile.summarize(raw) for label, raw in raws.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    report: dict[str, Any] = {
        "label": args.label,
        "args": {**vars(args), "out": str(args.out), "py_spy": str(args.py_spy)},
    }
    report["machine_before"] = machine()
    upstream = start_sandbox(work)
    litellm: Server | None = None
    if litellm_installed() and not args.no_litellm:
        # Started now: it takes 30–40 s, which Ray's start covers.
        litellm = start_litellm(SHORTCUT, "openai/gpt-oss-20b", upstream.extra["openai"], work)
    cluster: dict[str, Any] | None = None
    try:
        cluster = start_cluster(args, upstream, work / "ledger.sqlite")
        if litellm is not None:
            try:
                litellm.wait_ready("/health/liveliness", timeout_s=180)
            except (RuntimeError, TimeoutError) as error:
                print(f"LiteLLM's proxy did not start, left out: {error}", file=sys.stderr)
                report["litellm_error"] = str(error)
                litellm = None
        url = cluster["switchyard_direct"] or cluster["proxy_url"]
        key = tenant_key(url)
        limited_key = tenant_key(url, rpm=10_000_000, tpm=10_000_000_000)
        chosen = targets(cluster, upstream, litellm, args.max_tokens, key, limited_key)
        if args.contenders:
            wanted = args.contenders.split(",")
            chosen = [t for t in chosen if t.name in wanted]
        pids = memory_pids(cluster, upstream, litellm)
        report["cluster"] = cluster
        report["ray_env"] = {k: v for k, v in os.environ.items() if k.startswith("RAY_SERVE_")}

        print(f"load average before the run: {os.getloadavg()}", file=sys.stderr)
        plan = Plan(
            targets=chosen,
            phases=["sequential", "stream", "concurrent"],
            rounds=args.rounds,
            requests=args.requests,
            concurrency=args.concurrency,
        )
        started = time.monotonic()
        results = run_load(plan)
        report["main_seconds"] = time.monotonic() - started
        report["warmup_errors"] = results["warmup_errors"]
        report["first_errors"] = {
            name: samples["errors"][:3] for name, samples in results["samples"].items()
        }
        figures = {
            t.name: Figures.of(t.name, results["samples"][t.name], peaks(pids.get(t.name, {})))
            for t in chosen
        }
        report["machine_after_main"] = machine()

        report["memory_burst"] = {}
        for target in chosen:
            if target.name in (SWITCHYARD, FORWARDER, FORWARDER_SDK, "litellm"):
                on_path = {**pids[target.name], "sandbox": upstream.pid}
                burst = measured_burst(
                    target, on_path, args.memory_requests, args.memory_concurrency
                )
                del burst["latency_ms"]
                report["memory_burst"][target.name] = burst
        if args.py_spy is not None:
            # The forwarder too: its profile is the baseline each share is read against.
            report["profile"] = {
                t.name: profile(t, pids[t.name], args)
                for t in chosen
                if t.name in (SWITCHYARD, FORWARDER, FORWARDER_SDK)
            }
    finally:
        if cluster is not None:
            from serve_app.dev.local_cluster import stop_local_cluster

            stop_local_cluster()
        if litellm is not None:
            litellm.stop()
        upstream.stop()

    report["figures"] = {name: asdict(f) for name, f in figures.items()}
    report["ratios"] = ratios(figures, SWITCHYARD)
    bursts = report["memory_burst"]
    if SWITCHYARD in bursts and FORWARDER in bursts:
        report["ratios"]["cpu_vs_forwarder"] = cpu_ratio(bursts, SWITCHYARD, FORWARDER)
    # Against the forwarder with the SDK: what is left of the gap once the SDK the mission
    # requires is on both sides (printed beside the goals, not as one).
    beside: dict[str, float] = {}
    if FORWARDER_SDK in figures and SWITCHYARD in figures:
        sdk = figures[FORWARDER_SDK]
        beside["rps_vs_forwarder_sdk"] = figures[SWITCHYARD].rps / sdk.rps if sdk.rps else 0.0
        beside["p50_vs_forwarder_sdk_ms"] = figures[SWITCHYARD].p50_ms - sdk.p50_ms
        if FORWARDER_SDK in bursts and SWITCHYARD in bursts:
            beside["cpu_vs_forwarder_sdk"] = cpu_ratio(bursts, SWITCHYARD, FORWARDER_SDK)
        if FORWARDER in bursts and FORWARDER_SDK in bursts:
            beside["forwarder_sdk_cpu_vs_forwarder"] = cpu_ratio(bursts, FORWARDER_SDK, FORWARDER)
    report["beside_the_sdk_forwarder"] = beside
    if SWITCHYARD in bursts:
        peaks_mb = bursts[SWITCHYARD]["peak_rss_mb"]
        report["ratios"]["peak_rss_mb"] = max(
            mb for label, mb in peaks_mb.items() if label != "sandbox"
        )
    report["machine_after"] = machine()
    print(table(figures, args.concurrency))
    print()
    print(rounds_table(figures))
    print()
    for name, errors in report["first_errors"].items():
        if errors:
            print(f"{name}: first errors: {errors}")
    for name, burst in report["memory_burst"].items():
        memory = ", ".join(f"{k} {v:.0f}" for k, v in burst["peak_rss_mb"].items())
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in burst["cpu_ms_per_request"].items())
        print(
            f"alone at {args.memory_concurrency} concurrent, {name}: {burst['rps']:.0f} req/s, "
            f"{burst['errors']} errors; peak RSS MB: {memory}; CPU ms/request: {cpu}"
        )
    for contender, by_process in report.get("profile", {}).items():
        for label, shares in by_process.items():
            top = ", ".join(f"{name} {share:.0%}" for name, share in list(shares.items())[:6])
            print(f"CPU samples of {contender} {label}: {top}")
    print()
    for line in verdicts(report["ratios"]):
        print(line)
    for name, value in beside.items():
        print(f"beside the SDK forwarder, {name}: {value:.2f}")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
