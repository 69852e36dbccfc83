"""The front door `switchyard serve` prints: one loopback port that keeps answering when the
server behind it comes back on another port (as a restarted Ingress replica does)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from serve_app.dev.front_door import FrontDoor


class _Named(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Says which server answered, and echoes a POSTed body back."""

    protocol_version = "HTTP/1.1"
    server: _Named

    def do_GET(self) -> None:
        self._answer(self.server.name.encode())

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers["content-length"])))

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def first() -> Iterator[_Named]:
    server = _Named("first")
    yield server
    server.stop()


def test_the_front_door_follows_its_server_to_a_new_port(first: _Named) -> None:
    where = [first.address]
    door = FrontDoor(lambda: list(where), wait_s=10).start()
    try:
        assert httpx.get(door.url).text == "first"
        first.stop()  # killed; its replacement listens elsewhere, and says so when asked
        second = _Named("second")
        where[:] = [second.address]
        try:
            with httpx.Client() as client:  # a new connection: the old one went with `first`
                assert client.get(door.url).text == "second"
                assert client.get(door.url).text == "second"  # kept alive, still relayed
        finally:
            second.stop()
    finally:
        door.close()


def test_bodies_pass_through_unchanged_both_ways(first: _Named) -> None:
    door = FrontDoor(lambda: [first.address]).start()
    body = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold at once
    try:
        assert httpx.post(door.url, content=body).content == body
    finally:
        door.close()


def test_with_nowhere_to_go_a_connection_is_closed_after_the_wait(first: _Named) -> None:
    door = FrontDoor(lambda: [], wait_s=0.5).start()
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(door.url, timeout=10)
    finally:
        door.close()


def test_a_port_in_use_fails_when_the_door_is_made(first: _Named) -> None:
    with pytest.raises(OSError):
        FrontDoor(lambda: [first.address], port=first.address[1])
