"""One address on 127.0.0.1 that keeps reaching the Ingress when its replicas restart.

Serve's direct ingress has each Ingress replica answer HTTP on a port of its own, one hop shorter
than Serve's proxy; but a replica that restarts comes back on another port (Serve keeps a freed
port out of use for 150 s), so a URL naming one replica's port stops answering. The front door
listens on one port and passes each TCP connection, bytes unchanged, to a port where an Ingress
replica listens now. When none of the ports it knows accepts a connection, it asks Serve again
(`targets`), and keeps asking for up to `wait_s` while the replicas come back.

It relays bytes and reads none of them, on its own event loop in a thread of the process that
started the cluster (and ends with it). Ray's own front door, HAProxy (`RAY_SERVE_ENABLE_HA_PROXY`),
does the same job but binds its stats and metrics ports to every interface, which this project does
not allow; BENCHMARKS.md ("Front door") says what the hop costs.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import cast

Address = tuple[str, int]
HOST = "127.0.0.1"


class FrontDoor:
    """A TCP relay on 127.0.0.1:`port` to the addresses `targets()` names (asked again when none
    of the known ones accepts a connection; may block, it runs in a worker thread). Connections are
    spread over the targets in turn."""

    def __init__(
        self,
        targets: Callable[[], list[Address]],
        *,
        port: int = 0,
        wait_s: float = 60.0,
    ) -> None:
        self._lookup = targets
        self._wait_s = wait_s
        self._known: list[Address] = []
        self._turn = itertools.count()
        self._refreshing: asyncio.Future[None] | None = None
        # Bound here, before the thread starts, so that a port in use fails the caller at once.
        self._listener = socket.create_server((HOST, port))
        self.port: int = self._listener.getsockname()[1]
        self._loop = _new_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"front-door:{self.port}", daemon=True
        )
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> FrontDoor:
        self._thread.start()
        started: Future[asyncio.AbstractServer] = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _ClientSide(self), sock=self._listener),
            self._loop,
        )
        self._server = started.result(timeout=10)
        return self

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def connect(self, protocol: Callable[[], asyncio.Protocol]) -> asyncio.Transport | None:
        """A connection to an Ingress replica, or None after `wait_s` without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        while True:
            known = self._known
            start = next(self._turn)
            for n in range(len(known)):
                host, port = known[(start + n) % len(known)]
                try:
                    transport, _ = await loop.create_connection(protocol, host, port)
                except OSError:
                    continue  # gone (restarted on another port) or not listening yet
                return transport
            if loop.time() >= deadline:
                return None
            if known is self._known:  # nobody refreshed the list meanwhile
                await self._refresh()
            if not self._known:
                await asyncio.sleep(0.25)  # Serve is still starting the replacement

    async def _refresh(self) -> None:
        # One question to Serve at a time, however many connections are waiting for the answer.
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._ask_serve())
        await asyncio.shield(self._refreshing)

    async def _ask_serve(self) -> None:
        try:
            self._known = await asyncio.get_running_loop().run_in_executor(None, self._lookup)
        except Exception:  # Serve's controller is restarting too: try again shortly
            self._known = []


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # Ray Serve's own dependency: a cheaper loop for every relayed byte

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    return loop


class _ClientSide(asyncio.Protocol):
    """A connection a client opened to the front door; its bytes go to `_ReplicaSide`."""

    def __init__(self, door: FrontDoor) -> None:
        self._door = door
        self._transport: asyncio.Transport | None = None
        self._replica: asyncio.Transport | None = None
        self._early: list[bytes] = []  # what the client sent before the replica connection was up
        self._early_eof = False
        self._opening: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        # Held: the loop keeps only a weak reference to a task.
        self._opening = asyncio.ensure_future(self._open(self._transport))

    async def _open(self, client: asyncio.Transport) -> None:
        replica = await self._door.connect(lambda: _ReplicaSide(client))
        if replica is None or client.is_closing():
            client.close()
            if replica is not None:
                replica.close()
            return
        self._replica = replica
        for chunk in self._early:
            replica.write(chunk)
        self._early.clear()
        if self._early_eof and replica.can_write_eof():
            replica.write_eof()

    def data_received(self, data: bytes) -> None:
        if self._replica is None:
            self._early.append(data)
        else:
            self._replica.write(data)

    def eof_received(self) -> bool:
        # The client is done sending; the answer may still be on its way back.
        if self._replica is None:
            self._early_eof = True
        elif self._replica.can_write_eof():
            self._replica.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._replica is not None:
            self._replica.close()

    # Flow control: a client that reads slowly pauses the replica's side, and the other way round.
    def pause_writing(self) -> None:
        if self._replica is not None:
            self._replica.pause_reading()

    def resume_writing(self) -> None:
        if self._replica is not None:
            self._replica.resume_reading()


class _ReplicaSide(asyncio.Protocol):
    """The front door's connection to an Ingress replica; its bytes go back to the client."""

    def __init__(self, client: asyncio.Transport) -> None:
        self._client = client
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def eof_received(self) -> bool:
        if self._client.can_write_eof():
            self._client.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        # The replica went away (or closed the connection): so does the client's connection. (A
        # connection attempt that failed never made this side; the caller tries the next port.)
        if self._transport is not None:
            self._client.close()

    def pause_writing(self) -> None:
        self._client.pause_reading()

    def resume_writing(self) -> None:
        self._client.resume_reading()
