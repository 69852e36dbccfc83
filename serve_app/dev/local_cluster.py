"""Starting Switchyard on this machine: a local Ray cluster and Serve, on loopback only."""

from __future__ import annotations

import os
import socket
from typing import Any

from serve_app.dev.front_door import FrontDoor

# Ray Serve settings the whole cluster must have from its start (Serve's controller reads them);
# measured by benchmarks/overhead.py and benchmarks/settings.py, see BENCHMARKS.md. An
# environment variable already set wins.
CLUSTER_ENV = {
    # Direct ingress: each Ingress replica also serves HTTP itself, on a port of its own (30000 and
    # up, bound to Serve's HTTP host, 127.0.0.1 here), so a request skips the proxy's hop and its
    # serialisation. Serve's proxy keeps answering on its own port. A restarted replica comes back
    # on another port, so the URL to print is `open_front_door`'s, which follows the replicas.
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
    # Serve keeps a stopping ingress replica serving this long so load balancers can drop it; no
    # load balancer stands in front of a local cluster, and the default 30 s held every shutdown.
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
}

# Ray's switch between a single-machine node (bound to 127.0.0.1) and a cluster node.
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def bind_ray_to_loopback() -> None:
    """Make the Ray cluster this process starts next listen on 127.0.0.1 only. Call it before
    `ray.init`.

    Ray names a node by an address other machines can reach: `ray.init(_node_ip_address=
    "127.0.0.1")` is turned into the machine's interface address, and Ray's servers (GCS, raylet,
    every worker's gRPC server, the dashboard agent, the metrics export) listen on all interfaces
    or on that address. Ray's single-machine mode (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, the
    default on macOS and Windows) names the node 127.0.0.1 and binds them there. Ray reads the
    switch once, when it is imported, and the processes it starts inherit it; a process that
    imported Ray already gets the same value set on Ray's constant. The one listener left on all
    interfaces is each Serve replica's inter-deployment gRPC server, bound to `[::]:0` in Ray's
    own code (ray/serve/_private/replica.py) with no setting to change it (README, "Ports")."""
    os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
    if os.environ[LOOPBACK_ONLY_ENV] == "0":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def start_local_cluster(
    *, num_cpus: int | None = None, http_port: int | None = 8000, dashboard: bool = False
) -> str:
    """Start Ray and Serve here, every server bound to 127.0.0.1; returns the base URL of Serve's
    proxy, on `http_port` (None: a port free now)."""
    if http_port is None:
        http_port = free_port()
    # Ray 2.60 turns token auth on for new local clusters, which `serve deploy` cannot use here;
    # a local cluster that listens on loopback only does not need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for key, value in CLUSTER_ENV.items():
        os.environ.setdefault(key, value)
    bind_ray_to_loopback()
    import ray
    from ray import serve

    ray.init(
        # "local" starts a new cluster; a bare init() can attach to a stale one.
        address="local",
        num_cpus=num_cpus,
        include_dashboard=dashboard,
        dashboard_host="127.0.0.1",
        _node_ip_address="127.0.0.1",
        namespace="switchyard",
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": http_port})
    return f"http://127.0.0.1:{http_port}"


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_local_cluster() -> None:
    import ray
    from ray import serve

    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()


def serve_details() -> dict[str, Any]:
    """The Serve controller's account of the cluster (`ServeInstanceDetails` as a dict: every
    application, deployment and replica with its PID, and the direct-ingress target groups), the
    same that `serve status` and the dashboard read. Needs `ray.init` in this process; unlike
    `ray.util.state` it works on a cluster started without the dashboard."""
    from ray.serve.context import _get_global_client

    client = _get_global_client()  # raises when no Serve controller runs
    if client is None:  # not reached; the signature allows None
        raise RuntimeError("Ray Serve is not running")
    details: dict[str, Any] = client.get_serve_details()
    return details


def ingress_addresses(app_name: str) -> list[tuple[str, int, str]]:
    """Where `app_name`'s ingress replicas answer HTTP themselves: (host, port, route prefix), one
    per replica.

    Empty unless Serve's direct ingress is on (`RAY_SERVE_ENABLE_DIRECT_INGRESS=1`); then each
    ingress replica serves HTTP on a port of its own (30000 and up), skipping the proxy's hop, and
    the controller publishes those ports as the app's HTTP target group. Serve's proxy keeps
    answering on its port either way. A replica that restarts comes back on another port.
    """
    details = serve_details()
    host = (details.get("http_options") or {}).get("host") or "127.0.0.1"
    found = []
    for group in details.get("target_groups") or []:
        if group.get("app_name") != app_name or group.get("protocol") != "HTTP":
            continue
        prefix = (group.get("route_prefix") or "/").rstrip("/")
        for target in group.get("targets") or []:
            # Targets carry the node's address, but a replica binds Serve's HTTP host: on a
            # loopback-only cluster that is 127.0.0.1, which is where it must be called.
            ip = target["ip"] if host in ("0.0.0.0", "::") else host
            found.append((ip, int(target["port"]), prefix))
    return found


def ingress_urls(app_name: str) -> list[str]:
    """Each of `app_name`'s ingress replicas' own URL (with the app's route prefix, as the proxy's
    URL for the app would have it); see `ingress_addresses`."""
    return [f"http://{host}:{port}{prefix}" for host, port, prefix in ingress_addresses(app_name)]


def open_front_door(app_name: str, port: int = 0) -> FrontDoor:
    """The URL to print for `app_name`: a front door on 127.0.0.1:`port` (0: any free port) that
    passes each connection to one of the app's Ingress replicas at its own port under direct
    ingress (one hop shorter than Serve's proxy), following them when they restart; to Serve's
    proxy when direct ingress is off. It binds its port now and asks Serve where to go at its first
    connection, so it can be opened before the cluster starts. The app must be served at route
    prefix "/": the front door relays bytes and cannot add one."""

    def targets() -> list[tuple[str, int]]:
        direct = [(host, p) for host, p, _prefix in ingress_addresses(app_name)]
        if direct:
            return direct
        proxy = serve_details().get("http_options") or {}
        return [(proxy.get("host") or "127.0.0.1", int(proxy.get("port") or 8000))]

    return FrontDoor(targets, port=port).start()
