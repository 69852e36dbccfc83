"""Starting Switchyard on this machine: a local Ray cluster and Serve, on loopback only."""

from __future__ import annotations

import os
from typing import Any

# Ray Serve settings the whole cluster must have from its start (Serve's controller reads them);
# measured by benchmarks/overhead.py and benchmarks/settings.py, see BENCHMARKS.md. An
# environment variable already set wins.
CLUSTER_ENV = {
    # Direct ingress: each Ingress replica also serves HTTP itself, on a port of its own (30000 and
    # up, bound to Serve's HTTP host, 127.0.0.1 here), so a request skips the proxy's hop and its
    # serialisation. Serve's proxy keeps answering on its own port; `client_url` says which to use.
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
    # Serve keeps a stopping ingress replica serving this long so load balancers can drop it; no
    # load balancer stands in front of a local cluster, and the default 30 s held every shutdown.
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
}


def start_local_cluster(
    *, num_cpus: int | None = None, http_port: int = 8000, dashboard: bool = False
) -> str:
    """Start Ray and Serve here, every server bound to 127.0.0.1; returns the HTTP base URL."""
    # Ray 2.60 turns token auth on for new local clusters, which `serve deploy` cannot use here;
    # a local cluster that listens on loopback only does not need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for key, value in CLUSTER_ENV.items():
        os.environ.setdefault(key, value)
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


def ingress_urls(app_name: str) -> list[str]:
    """Where `app_name`'s ingress replicas answer HTTP themselves, one URL per replica (with the
    app's route prefix, as the proxy's URL for the app would have it).

    Empty unless Serve's direct ingress is on (`RAY_SERVE_ENABLE_DIRECT_INGRESS=1`); then each
    ingress replica serves HTTP on a port of its own (30000 and up), skipping the proxy's hop, and
    the controller publishes those ports as the app's HTTP target group. Serve's proxy keeps
    answering on its port either way.
    """
    details = serve_details()
    host = (details.get("http_options") or {}).get("host") or "127.0.0.1"
    urls = []
    for group in details.get("target_groups") or []:
        if group.get("app_name") != app_name or group.get("protocol") != "HTTP":
            continue
        prefix = (group.get("route_prefix") or "/").rstrip("/")
        for target in group.get("targets") or []:
            # Targets carry the node's address, but a replica binds Serve's HTTP host: on a
            # loopback-only cluster that is 127.0.0.1, which is where it must be called.
            ip = target["ip"] if host in ("0.0.0.0", "::") else host
            urls.append(f"http://{ip}:{target['port']}{prefix}")
    return urls


def client_url(app_name: str, proxy_url: str) -> str:
    """The base URL HTTP clients should use for `app_name`: its Ingress replica's own port under
    direct ingress (one hop fewer), else Serve's proxy. With several Ingress replicas the proxy,
    which spreads requests over them, is the one URL that reaches them all."""
    urls = ingress_urls(app_name)
    return urls[0] if len(urls) == 1 else proxy_url
