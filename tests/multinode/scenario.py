"""Switchyard on a simulated multi-node Ray cluster: run as a program, it writes what it saw (JSON).

`python -m tests.multinode.scenario OUT.json` starts its own Ray cluster of three nodes on this
machine (Ray's `cluster_utils.Cluster`) — a CPU-only head, an H100 worker and an L4 worker whose
GPUs are fake resources (`GPU` and `accelerator_type:*`) — deploys Switchyard on it with two local
models on the tiny random-weight Llama (their placement kept from the directory: `keep_placement`),
puts a steady load on the H100 model, takes the H100 worker away mid-load, then adds a replacement
H100 worker. It runs in a process of its own because a process holds one Ray connection and the
pytest session may hold the single-node test cluster (tests/integration/conftest.py).

The directory is the shipped one but for one line: `local/llama-3.1-8b-instruct` (the backup of
`local/qwen3-8b`) is served on an L4 (an 8B model fits an L4's 24 GB), so that the primary and its
backup live on different workers, as a deployment that wants to survive losing a node would have
them. Assertions live in test_multinode.py; this file only observes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRIMARY = "local/qwen3-8b"  # H100 in the directory
BACKUP = "local/llama-3.1-8b-instruct"  # moved to L4 here
CLOUD = "openai/gpt-6.2-sol"  # through the OpenAI sandbox
WARM_UP_CALLS = 3
HEAD_CPUS = 2
WORKER_CPUS = 2
# The callers set no deadline of their own: a call to the model must fail over once its replica
# is gone (serve_app/app/replicas.py), not after the local provider's 120 s first-content
# deadline (providers.yaml, sized for a cold start), which is longer than a caller here waits.
CALLER_TIMEOUT_S = 90
# Two callers: local models share one breaker (provider `local`, threshold 3), and a call that
# fails over books a failure then a success for it, so two callers can never line up three
# failures in a row; three could, and would open it for the backup too (see README).
CALLERS = 2
# What the cluster's GCS waits before it declares a silent node dead (Ray's default is 5 misses of
# a 3 s check): shortened so the test does not wait 15 s for a node it killed.
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
STATUS_SAMPLES = 20  # serve.status() calls timed: what each Ingress replica makes once a second


@dataclass
class Call:
    started: float
    status: int
    model: str
    attempts: int
    seconds: float
    error: str = ""
    failed_kinds: list[str] = field(default_factory=list)  # error kinds of its failed attempts
    skipped: list[str] = field(default_factory=list)  # why candidates were planned out


@dataclass
class Facts:
    nodes: dict[str, str] = field(default_factory=dict)  # node id -> head / h100 / l4 / h100-spare
    replicas: dict[str, list[str]] = field(default_factory=dict)  # deployment -> node names
    actors: dict[str, str] = field(default_factory=dict)  # actor name -> node name
    ledger_file: str = ""
    ledger_rows: int = 0
    node_removed_at: float = 0.0
    calls: list[Call] = field(default_factory=list)
    after_removal: dict[str, Any] = field(default_factory=dict)
    after_spare: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    serve_status_ms: list[float] = field(default_factory=list)


def write_directory(folder: Path) -> Path:
    from directory.loader import SHIPPED

    for name in ("providers.yaml", "shortcuts.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    models = yaml.safe_load((SHIPPED / "models.yaml").read_text())
    for model in models["models"]:
        if model["id"] == BACKUP:
            model["serving"]["accelerator_type"] = "L4"
    (folder / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return folder


def start_cluster() -> Any:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from serve_app.dev.local_cluster import CLUSTER_ENV, bind_ray_to_loopback

    for key, value in CLUSTER_ENV.items():
        os.environ.setdefault(key, value)
    bind_ray_to_loopback()
    from ray.cluster_utils import Cluster

    return Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": HEAD_CPUS,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "_system_config": HEALTH_CHECK,
        },
    )


def add_gpu_worker(cluster: Any, accelerator: str) -> Any:
    """A worker that advertises one GPU of `accelerator` type; nothing real stands behind it."""
    return cluster.add_node(
        num_cpus=WORKER_CPUS,
        num_gpus=1,
        resources={f"accelerator_type:{accelerator}": 1},
        node_ip_address="127.0.0.1",
    )


def app_args(directory: Path, ledger: Path, sandboxes: Any) -> Any:
    from serve_app.app.builder import CPU_ENGINE, AppArgs, LocalModelOverride

    stand_in = LocalModelOverride(
        weights="builtin:tiny-llama",
        on_cpu=True,
        keep_placement=True,
        engine=CPU_ENGINE,
        autoscaling={"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 16},
    )
    return AppArgs(
        directory_path=str(directory),
        providers=["openai"],
        sandbox_urls={kind: sandboxes.url(kind) for kind in ("openai", "anthropic", "google")},
        ledger_path=str(ledger),
        local_models=[PRIMARY, BACKUP],
        local_overrides={PRIMARY: stand_in, BACKUP: stand_in},
        ingress={"num_replicas": 1, "num_cpus": 0.1},
        cloud_proxy={"num_replicas": 1, "num_cpus": 0.1},
        auth=False,
    )


def placement(names: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """(deployment -> node names of its RUNNING replicas, deployment -> Serve's status)."""
    from serve_app.dev.local_cluster import serve_details

    app = serve_details()["applications"]["switchyard"]
    running: dict[str, list[str]] = {}
    status: dict[str, dict[str, Any]] = {}
    for name, deployment in app["deployments"].items():
        replicas = deployment["replicas"]
        running[name] = sorted(
            names.get(r["node_id"], r["node_id"]) for r in replicas if r["state"] == "RUNNING"
        )
        status[name] = {
            "status": deployment["status"],
            "replica_states": sorted(r["state"] for r in replicas),
        }
    return running, status


def actor_nodes(names: dict[str, str]) -> dict[str, str]:
    from ray._private import state

    found: dict[str, str] = {}
    for actor in state.actors().values():
        if actor.get("Name", "").startswith("switchyard-") and actor["State"] == "ALIVE":
            found[actor["Name"]] = names.get(actor["Address"]["NodeID"], "?")
    return found


def call(url: str, model: str) -> Call:
    import httpx

    started = time.monotonic()
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    try:
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=CALLER_TIMEOUT_S)
    except httpx.HTTPError as error:
        return Call(started, 0, "", 0, time.monotonic() - started, type(error).__name__)
    seconds = time.monotonic() - started
    headers = response.headers
    route = response.json().get("switchyard") or {}
    return Call(
        started,
        response.status_code,
        headers.get("x-switchyard-model", ""),
        int(headers.get("x-switchyard-attempts", "0")),
        seconds,
        "" if response.status_code == 200 else response.text[:300],
        [a.get("error_kind") or "" for a in route.get("attempts", []) if a.get("outcome") != "ok"],
        [s.get("reason", "") for s in route.get("skipped", [])],
    )


def time_serve_status() -> list[float]:
    """Milliseconds per `serve.status()` call (here from the driver; the Ingress's watch makes
    the same call once a second from a thread)."""
    from ray import serve

    timings = []
    for _ in range(STATUS_SAMPLES):
        begun = time.perf_counter()
        serve.status()
        timings.append((time.perf_counter() - begun) * 1000)
    return timings


class Load:
    """`workers` callers in a loop on `model` until stopped, each call recorded."""

    def __init__(self, url: str, model: str, workers: int) -> None:
        self.calls: list[Call] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url, model), daemon=True)
            for _ in range(workers)
        ]

    def _run(self, url: str, model: str) -> None:
        while not self._stop.is_set():
            self.calls.append(call(url, model))
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def wait_for(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def run(out: Path) -> None:
    import ray
    from ray import serve

    from deployments.sandbox.server import start_sandboxes
    from serve_app.app.builder import APP_NAME, build_app
    from serve_app.dev.local_cluster import free_port

    facts = Facts()
    begun = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="switchyard-multinode-"))
    ledger = work / "head-volume" / "ledger.sqlite"
    directory = write_directory(Path(tempfile.mkdtemp(dir=work)))
    cluster = start_cluster()
    try:
        h100 = add_gpu_worker(cluster, "H100")
        l4 = add_gpu_worker(cluster, "L4")
        names = {cluster.head_node.node_id: "head", h100.node_id: "h100", l4.node_id: "l4"}
        facts.nodes = {node_id: name for node_id, name in names.items()}
        ray.init(address=cluster.address, namespace="switchyard", log_to_driver=False)
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
        url = f"http://127.0.0.1:{port}"
        facts.seconds["cluster_up"] = time.monotonic() - begun
        with start_sandboxes() as sandboxes:
            serve.run(build_app(app_args(directory, ledger, sandboxes)), name=APP_NAME)
            facts.seconds["app_up"] = time.monotonic() - begun
            for model in (PRIMARY, BACKUP, CLOUD):  # the actors start on the first call
                call(url, model)
            facts.replicas, _ = placement(names)
            wait_for(lambda: len(actor_nodes(names)) == 3, 30)
            facts.actors = actor_nodes(names)
            facts.serve_status_ms = time_serve_status()

            with Load(url, PRIMARY, workers=CALLERS) as load:
                time.sleep(3)
                facts.node_removed_at = time.monotonic()
                cluster.remove_node(h100, allow_graceful=False)
                primary = f"local-{PRIMARY.split('/', 1)[1]}"
                wait_for(lambda: placement(names)[0][primary] == [], 30)
                time.sleep(8)
            facts.calls = list(load.calls)
            running, status = placement(names)
            facts.after_removal = {"running": running, "status": status}
            facts.seconds["removal_observed"] = time.monotonic() - begun

            spare = add_gpu_worker(cluster, "H100")
            names[spare.node_id] = "h100-spare"
            facts.nodes[spare.node_id] = "h100-spare"
            wait_for(lambda: placement(names)[0][primary] == ["h100-spare"], 90)
            running, status = placement(names)
            facts.seconds["spare_placed"] = time.monotonic() - begun
            # The Ingress learns of the replica within its watch's refresh (1 s); until then the
            # model is still planned out and its backup answers.
            back = [call(url, PRIMARY)]
            while (
                back[-1].model != PRIMARY
                and time.monotonic() - begun < facts.seconds["spare_placed"] + 10
            ):
                time.sleep(0.2)
                back.append(call(url, PRIMARY))
            facts.after_spare = {
                "running": running,
                "status": status,
                "call": asdict(back[-1]),
                "calls_before": [asdict(c) for c in back[:-1]],
            }
            facts.seconds["primary_answers_again"] = time.monotonic() - begun
            facts.ledger_file = str(ledger)
            attempts = sum(c.attempts for c in [*facts.calls, *back]) + WARM_UP_CALLS
            facts.ledger_rows = ledger_rows(ledger, attempts)
            serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()
        cluster.shutdown()
        facts.seconds["total"] = time.monotonic() - begun
        out.write_text(json.dumps(asdict(facts), indent=1))
        shutil.rmtree(work, ignore_errors=True)


def ledger_rows(ledger: Path, expected: int) -> int:
    """Rows in the ledger's SQLite file, once `expected` are there or 20 s have passed (the Ingress
    sends its records in the background)."""
    import sqlite3

    def count() -> int:
        if not ledger.exists():
            return 0
        with sqlite3.connect(ledger) as db:
            tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
            if "usage" not in tables:
                return 0
            return int(db.execute("select count(*) from usage").fetchone()[0])

    wait_for(lambda: count() >= expected, 20)
    return count()


if __name__ == "__main__":
    run(Path(sys.argv[1]))
