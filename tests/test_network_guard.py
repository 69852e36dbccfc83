"""The session's network guard (tests/conftest.py) refuses every connection off this machine."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import NetworkGuard, NonLoopbackConnection

# TEST-NET-1 (RFC 5737) and the IPv6 documentation prefix: never anyone's real address.
OFF_MACHINE = [("192.0.2.1", 443), ("2001:db8::1", 443), ("example.com", 443)]


@pytest.mark.parametrize("address", OFF_MACHINE, ids=lambda a: a[0])
def test_plain_sockets_are_refused(network_guard: NetworkGuard, address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(NonLoopbackConnection):
            sock.connect(address)
        with pytest.raises(NonLoopbackConnection):
            sock.connect_ex(address)
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection(address, timeout=0.5)
    assert len(network_guard.violations) == 3
    network_guard.violations.clear()  # provoked on purpose: do not fail this test


async def test_asyncio_and_http_clients_are_refused(network_guard: NetworkGuard) -> None:
    with pytest.raises(NonLoopbackConnection):
        await asyncio.open_connection("192.0.2.1", 443)
    # An HTTP client wraps the refusal in its own error, but the guard still saw it.
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://192.0.2.1/")
    assert len(network_guard.violations) == 2
    network_guard.violations.clear()


async def test_loopback_and_unix_sockets_still_work(
    network_guard: NetworkGuard, tmp_path: Path
) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    path = str(tmp_path / "s.sock")
    unix_server = await asyncio.start_unix_server(lambda r, w: w.close(), path)
    _, unix_writer = await asyncio.open_unix_connection(path)
    unix_writer.close()
    server.close()
    unix_server.close()
    assert network_guard.violations == []


def test_loopback_rule() -> None:
    assert NetworkGuard.is_loopback(("127.0.0.1", 80))
    assert NetworkGuard.is_loopback(("127.8.9.10", 80))
    assert NetworkGuard.is_loopback(("::1", 80, 0, 0))
    assert NetworkGuard.is_loopback(("::ffff:127.0.0.1", 80, 0, 0))
    assert NetworkGuard.is_loopback(("localhost", 80))
    assert not NetworkGuard.is_loopback(("10.0.0.1", 80))
    assert not NetworkGuard.is_loopback(("0.0.0.0", 80))
    assert not NetworkGuard.is_loopback(("api.openai.com", 443))
