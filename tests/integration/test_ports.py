"""What the session's Ray cluster listens on: loopback only, as the demo's and `switchyard serve`'s
local cluster (`bind_ray_to_loopback`), but for one listener per Serve replica that Ray binds to
all interfaces in its own code (README, "Ports")."""

from __future__ import annotations

import ipaddress

import psutil
import pytest

from serve_app.app.builder import APP_NAME, INGRESS_NAME
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _listeners() -> dict[str, list[str]]:
    """Every TCP listener of this process and the processes it started (the Ray cluster's GCS,
    raylet, agents, workers, replicas), as "ip:port" by process command line."""
    found: dict[str, list[str]] = {}
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            name = " ".join(process.cmdline())
            sockets = process.net_connections(kind="tcp")
        except psutil.Error:  # ended meanwhile
            continue
        listening = [s for s in sockets if s.status == psutil.CONN_LISTEN]
        if listening:
            found[f"{process.pid} {name}"] = [f"{s.laddr.ip}:{s.laddr.port}" for s in listening]
    return found


def test_the_cluster_listens_on_loopback_but_for_serves_replica_grpc(
    switchyard: Switchyard,
) -> None:
    listeners = _listeners()
    ingress = [name for name in listeners if f"ServeReplica:{APP_NAME}:{INGRESS_NAME}" in name]
    assert len(ingress) == 2, listeners  # both Ingress replicas were seen
    assert any("gcs_server" in name for name in listeners), listeners
    for name, addresses in listeners.items():
        open_to_all = [a for a in addresses if not _is_loopback(a.rsplit(":", 1)[0])]
        if "ray::ServeReplica:" in name:
            # Serve's inter-deployment gRPC server, `[::]:0` in ray/serve/_private/replica.py.
            assert len(open_to_all) <= 1, (name, addresses)
            assert all(a.startswith(":::") for a in open_to_all), (name, addresses)
        else:
            assert open_to_all == [], (name, addresses)
