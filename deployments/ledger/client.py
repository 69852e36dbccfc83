"""LedgerClient: books usage records from an Ingress replica without the request ever waiting.

`book` appends to an in-memory queue and returns. A background task (`run`) sends batches —
every `interval_s`, or at once when `batch_size` records are waiting — to the CostLedger actor,
and keeps each record until the actor acknowledges its key. A failed send (timeout, actor dead
or restarting) puts the batch back at the front and is retried with backoff; the actor's primary
key makes a resend harmless. Nothing is ever dropped: a long outage grows the queue, and the
client logs a warning each time the backlog doubles past `warn_backlog`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from deployments.background import BackgroundLoop
from deployments.ledger.records import UsageRecord

logger = logging.getLogger(__name__)

WriteFn = Callable[[list[UsageRecord]], Awaitable[Sequence[tuple[str, int]]]]


class LedgerClient:
    def __init__(
        self,
        write: WriteFn,
        *,
        batch_size: int = 100,
        interval_s: float = 0.2,
        call_timeout_s: float = 10.0,
        max_backoff_s: float = 2.0,
        warn_backlog: int = 10_000,
    ) -> None:
        self._write = write
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._call_timeout_s = call_timeout_s
        self._max_backoff_s = max_backoff_s
        self._warn_backlog = warn_backlog
        self._next_warning = warn_backlog
        self._pending: deque[UsageRecord] = deque()
        self._in_flight: list[UsageRecord] = []
        self._lock = asyncio.Lock()  # one batch in flight at a time: acks stay in order
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop()
        self.acked = 0  # records the actor acknowledged, over this client's life
        self.failed_sends = 0

    @classmethod
    def for_actor(
        cls,
        *,
        name: str,
        namespace: str | None = None,
        batch_size: int = 100,
        interval_s: float = 0.2,
    ) -> LedgerClient:
        """A client of the named CostLedger actor (the Ray glue: the only Ray-aware part)."""
        from deployments.named_actor import NamedActor

        actor = NamedActor(name, namespace)

        async def write(batch: list[UsageRecord]) -> Sequence[tuple[str, int]]:
            return cast(Sequence[tuple[str, int]], await actor.call("write", batch))

        return cls(write, batch_size=batch_size, interval_s=interval_s)

    # --- the request path -------------------------------------------------------------------------

    def book(self, record: UsageRecord) -> None:
        """Queue a record for the ledger. Synchronous; never blocks, never drops."""
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()
        backlog = self.backlog
        if backlog >= self._next_warning:
            logger.warning("ledger backlog at %d records: is the CostLedger actor up?", backlog)
            self._next_warning *= 2

    @property
    def backlog(self) -> int:
        """Records booked and not yet acknowledged."""
        return len(self._pending) + len(self._in_flight)

    # --- sending ----------------------------------------------------------------------------------

    async def flush_once(self) -> bool:
        """Send one batch; True when it was acknowledged (or there was nothing to send)."""
        async with self._lock:
            if not self._pending:
                return True
            count = min(self._batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            self._in_flight = batch
            try:
                acked = await asyncio.wait_for(self._write(batch), self._call_timeout_s)
            except asyncio.CancelledError:
                self._pending.extendleft(reversed(batch))
                raise
            except Exception as exc:
                self._pending.extendleft(reversed(batch))
                self.failed_sends += 1
                logger.warning("ledger batch of %d not acknowledged, will resend: %r", count, exc)
                return False
            finally:
                self._in_flight = []
            acked_keys = set(acked)
            unacked = [record for record in batch if record.key not in acked_keys]
            self._pending.extendleft(reversed(unacked))
            self.acked += count - len(unacked)
            if self.backlog < self._warn_backlog:
                self._next_warning = self._warn_backlog
            return not unacked

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Send everything booked so far; True when all of it was acknowledged in time."""
        deadline = time.monotonic() + timeout_s
        failures = 0
        while self.backlog:
            if await self.flush_once():
                failures = 0
                continue
            failures += 1
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self._backoff(failures))
        return True

    # --- the background task ----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start `run` on the running event loop (idempotent)."""
        return self._loop.start(self.run)

    async def aclose(self, timeout_s: float = 10.0) -> bool:
        """Stop the background task and send what is left (replica shutdown)."""
        await self._loop.stop()
        return await self.flush(timeout_s)

    async def run(self) -> None:
        failures = 0
        while True:
            if failures:
                await asyncio.sleep(self._backoff(failures))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            failures = 0 if await self._drain() else failures + 1

    async def _drain(self) -> bool:
        while self._pending:
            if not await self.flush_once():
                return False
        return True

    def _backoff(self, failures: int) -> float:
        return float(min(self._interval_s * 2 ** (failures - 1), self._max_backoff_s))
