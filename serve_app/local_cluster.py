"""Starting Switchyard on this machine: a local Ray cluster and Serve, on loopback only."""

from __future__ import annotations

import os


def start_local_cluster(
    *, num_cpus: int | None = None, http_port: int = 8000, dashboard: bool = False
) -> str:
    """Start Ray and Serve here, every server bound to 127.0.0.1; returns the HTTP base URL."""
    # Ray 2.60 turns token auth on for new local clusters, which `serve deploy` cannot use here;
    # a local cluster that listens on loopback only does not need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
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
