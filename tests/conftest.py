"""Session-wide test setup.

The network guard comes first: tests must never reach a real provider (or anything else off this
machine), so from the start of the session every Python-level connection to an address outside
127.0.0.0/8 and ::1 is refused. Unix sockets are allowed. A refused connection raises
`NonLoopbackConnection` (an `OSError`, so the code under test sees an unreachable network), and
is also recorded: an SDK that swallows the error into its own cannot hide it, because the test
that made the attempt then fails in teardown, and the session fails if one happened outside a
test.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

# --- network guard -------------------------------------------------------------------------------


class NonLoopbackConnection(OSError):
    """A test tried to connect somewhere other than this machine's loopback."""


class NetworkGuard:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._originals: dict[str, Any] = {}

    @staticmethod
    def is_loopback(address: Any) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, bytes):
            host = host.decode()
        if not isinstance(host, str):
            return False
        if host == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False  # a host name other than localhost: refused without a DNS lookup
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def check(self, family: int, address: Any) -> None:
        if family == socket.AF_UNIX or self.is_loopback(address):
            return
        message = f"test network guard: connection to non-loopback address {address!r} refused"
        with self._lock:
            self.violations.append(message)
        raise NonLoopbackConnection(errno.ENETUNREACH, message)

    def install(self) -> None:
        guard = self
        originals = self._originals = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "create_connection": socket.create_connection,
        }

        def connect(sock: socket.socket, address: Any) -> None:
            guard.check(sock.family, address)
            return originals["connect"](sock, address)  # type: ignore[no-any-return]

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard.check(sock.family, address)
            return originals["connect_ex"](sock, address)  # type: ignore[no-any-return]

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            guard.check(socket.AF_INET, address)
            return originals["create_connection"](address, *args, **kwargs)  # type: ignore[no-any-return]

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.create_connection = create_connection  # type: ignore[assignment]

    def uninstall(self) -> None:
        if self._originals:
            socket.socket.connect = self._originals["connect"]  # type: ignore[method-assign]
            socket.socket.connect_ex = self._originals["connect_ex"]  # type: ignore[method-assign]
            socket.create_connection = self._originals["create_connection"]  # type: ignore[assignment]
            self._originals = {}


_GUARD = NetworkGuard()


def pytest_sessionstart(session: pytest.Session) -> None:
    _GUARD.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _GUARD.uninstall()
    if _GUARD.violations:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def network_guard() -> NetworkGuard:
    """The guard itself, for the test that proves it fires (and clears what it provoked)."""
    return _GUARD


@pytest.fixture(autouse=True)
def _no_connection_left_this_machine() -> Iterator[None]:
    seen = len(_GUARD.violations)
    yield
    escaped = _GUARD.violations[seen:]
    if escaped:
        pytest.fail("; ".join(escaped), pytrace=False)


# --- Ray -----------------------------------------------------------------------------------------


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for servers the tests start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """One local Ray cluster for the session (`ray.init` takes seconds); yields the dashboard URL.

    Four logical CPUs (replicas ask for fractions; the machine has two cores), token auth off, and
    everything bound to loopback so that nothing listens on (or dials) another address. The
    dashboard is on because `serve deploy` (the hot-reload test) talks to its REST API.
    `address="local"` starts a fresh cluster even if a stale one is recorded in /tmp/ray."""
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # The Serve settings `switchyard serve` starts its cluster with (direct ingress), so that the
    # tests run the app as it runs in use.
    from serve_app.dev.local_cluster import CLUSTER_ENV, bind_ray_to_loopback

    for key, value in CLUSTER_ENV.items():
        os.environ.setdefault(key, value)
    bind_ray_to_loopback()  # as `switchyard serve` and the demo do; tests/integration/test_ports.py
    import ray

    dashboard_port = free_port()
    dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    if ray.is_initialized():  # another fixture started it: share, and leave it running
        yield dashboard_url
        return
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=dashboard_port,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        yield dashboard_url
    finally:
        ray.shutdown()
