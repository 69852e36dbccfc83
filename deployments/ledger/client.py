"""LedgerClient: books usage records from an Ingress replica without the request ever waiting.

`book` writes the record to the replica's journal (`journal.py`: one local `write(2)`, no actor,
no fsync) and queues it in memory, then returns: the gateway books an attempt before the answer's
last byte goes out, so an answered call's record is on the node's disk before the caller has it.
A background task (`run`) sends batches — every `interval_s`, or at once when `batch_size`
records are waiting — to the CostLedger actor, and keeps each record until the actor
acknowledges its key; an acknowledged record's journal segment is deleted once all of it is. A
failed send (timeout, actor dead or restarting) puts the batch back at the front and is retried
with backoff; the actor's primary key makes a resend harmless.

Memory is bounded (`max_buffered`): past it, records wait in the journal only, in segments of
their own, and are read back a segment at a time as the queue drains. Without a journal (tests,
a disk that refuses writes) a record over the bound is dropped and counted, with an error logged.
The task also replays journals left on this node by replicas that died (`replay_orphans`).
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
from deployments.ledger.journal import Journal, Orphan, journal_folders, read_segment
from deployments.ledger.records import UsageRecord

logger = logging.getLogger(__name__)

WriteFn = Callable[[list[UsageRecord]], Awaitable[Sequence[tuple[str, int]]]]
# A queued record and the journal segment that holds it (None: it is in memory only).
_Entry = tuple[int | None, UsageRecord]


class LedgerClient:
    def __init__(
        self,
        write: WriteFn,
        *,
        journal: Journal | None = None,
        batch_size: int = 100,
        interval_s: float = 0.2,
        call_timeout_s: float = 10.0,
        max_backoff_s: float = 2.0,
        warn_backlog: int = 10_000,
        max_buffered: int = 20_000,
        replay_every_s: float = 10.0,
    ) -> None:
        self._write = write
        self._journal = journal
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._call_timeout_s = call_timeout_s
        self._max_backoff_s = max_backoff_s
        self._warn_backlog = warn_backlog
        self._next_warning = warn_backlog
        self._max_buffered = max_buffered
        self._replay_every_s = replay_every_s
        self._pending: deque[_Entry] = deque()
        self._in_flight: list[_Entry] = []
        self._spilled: deque[int] = deque()  # journal segments whose records are not in memory
        self._lock = asyncio.Lock()  # one batch in flight at a time: acks stay in order
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop()
        self._journal_failures = 0
        self.acked = 0  # records the actor acknowledged, over this client's life
        self.failed_sends = 0
        self.dropped = 0  # records lost: over the bound with no journal to keep them
        self.replayed = 0  # records of dead replicas' journals this client sent

    @classmethod
    def for_actor(
        cls,
        *,
        name: str,
        namespace: str | None = None,
        journal: Journal | None = None,
        batch_size: int = 100,
        interval_s: float = 0.2,
    ) -> LedgerClient:
        """A client of the named CostLedger actor (the Ray glue: the only Ray-aware part)."""
        from deployments.named_actor import NamedActor

        actor = NamedActor(name, namespace)

        async def write(batch: list[UsageRecord]) -> Sequence[tuple[str, int]]:
            return cast(Sequence[tuple[str, int]], await actor.call("write", batch))

        return cls(write, journal=journal, batch_size=batch_size, interval_s=interval_s)

    # --- the request path -------------------------------------------------------------------------

    def book(self, record: UsageRecord) -> None:
        """Journal a record and queue it for the ledger. Synchronous local I/O; never raises,
        never waits on the actor."""
        full = self.in_memory >= self._max_buffered
        if full and self._journal is not None and not self._spilled:
            self._journal.roll()  # from here on records wait on disk, in segments of their own
        segment = self._journal_append(record)
        if segment is not None and (full or self._spilled):
            if not self._spilled or self._spilled[-1] != segment:
                self._spilled.append(segment)
        elif full:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # the 1st, 2nd, 4th, 8th, ...
                logger.error(
                    "ledger: %d usage record(s) dropped: %d waiting in memory and no journal "
                    "to hold more",
                    self.dropped,
                    self._max_buffered,
                )
            return
        else:
            self._pending.append((segment, record))
        if len(self._pending) >= self._batch_size:
            self._wake.set()
        backlog = self.backlog
        if backlog >= self._next_warning:
            logger.warning("ledger backlog at %d records: is the CostLedger actor up?", backlog)
            self._next_warning *= 2

    def _journal_append(self, record: UsageRecord) -> int | None:
        if self._journal is None:
            return None
        try:
            return self._journal.append(record)
        except OSError as error:
            self._journal_failures += 1
            if self._journal_failures & (self._journal_failures - 1) == 0:
                logger.error(
                    "ledger journal %s refused %d record(s), kept in memory only: %s",
                    self._journal.folder,
                    self._journal_failures,
                    error.strerror or type(error).__name__,
                )
            return None

    @property
    def in_memory(self) -> int:
        """Records held in this process's memory: never more than `max_buffered`."""
        return len(self._pending) + len(self._in_flight)

    @property
    def backlog(self) -> int:
        """Records booked and not yet acknowledged (in memory and waiting in the journal)."""
        journal = self._journal
        spilled = 0 if journal is None else sum(map(journal.unacknowledged, self._spilled))
        return self.in_memory + spilled

    # --- sending ----------------------------------------------------------------------------------

    async def flush_once(self) -> bool:
        """Send one batch; True when it was acknowledged (or there was nothing to send)."""
        async with self._lock:
            await self._reload()
            if not self._pending:
                return True
            count = min(self._batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            self._in_flight = batch
            try:
                async with asyncio.timeout(self._call_timeout_s):
                    acked = await self._write([record for _, record in batch])
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
            unacked = [entry for entry in batch if entry[1].key not in acked_keys]
            self._pending.extendleft(reversed(unacked))
            self._acknowledge([entry[0] for entry in batch if entry[1].key in acked_keys])
            self.acked += count - len(unacked)
            if self.backlog < self._warn_backlog:
                self._next_warning = self._warn_backlog
            return not unacked

    def _acknowledge(self, segments: list[int | None]) -> None:
        if self._journal is None:
            return
        for segment in segments:
            if segment is not None:
                self._journal.acknowledge(segment)

    async def _reload(self) -> None:
        """Bring spilled segments back into memory while a whole one fits under the bound."""
        journal = self._journal
        while journal is not None and self._spilled:
            segment = self._spilled[0]
            if self.in_memory + journal.unacknowledged(segment) > self._max_buffered:
                return
            if journal.current_id == segment:
                journal.roll()
            records = await asyncio.to_thread(journal.read, segment)
            self._spilled.popleft()
            self._pending.extend((segment, record) for record in records)

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

    # --- dead replicas' journals ------------------------------------------------------------------

    async def replay_orphans(self) -> int:
        """Send the records of every journal on this node whose owner is dead, then delete it.
        Returns how many records were sent. One that cannot be sent now stays for the next try."""
        if self._journal is None:
            return 0
        sent = 0
        folders = await asyncio.to_thread(
            journal_folders, self._journal.root, besides=self._journal.folder
        )
        for folder in folders:
            orphan = Orphan.claim(folder)
            if orphan is None:
                continue  # its owner is alive
            try:
                sent += await self._replay(orphan)
            except Exception as exc:
                logger.warning("ledger journal %s not replayed yet, will retry: %r", folder, exc)
            finally:
                orphan.release()
        self.replayed += sent
        return sent

    async def _replay(self, orphan: Orphan) -> int:
        sent = 0
        for path in orphan.segments():
            records = (await asyncio.to_thread(read_segment, path)).records
            for start in range(0, len(records), self._batch_size):
                batch = records[start : start + self._batch_size]
                async with asyncio.timeout(self._call_timeout_s):
                    acked = set(await self._write(batch))
                missing = sum(record.key not in acked for record in batch)
                if missing:
                    raise RuntimeError(f"{missing} of {len(batch)} records not acknowledged")
                sent += len(batch)
            path.unlink()
        orphan.remove()
        if sent:
            logger.info("ledger: replayed %d records from a dead replica's journal", sent)
        return sent

    # --- the background task ----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start `run` on the running event loop (idempotent)."""
        return self._loop.start(self.run)

    async def aclose(self, timeout_s: float = 10.0) -> bool:
        """Stop the background task and send what is left (replica shutdown). What could not be
        sent is logged: it stays in the journal for the next replica on this node, or, with no
        journal, is lost."""
        await self._loop.stop()
        flushed = await self.flush(timeout_s)
        if not flushed:
            left = self.backlog
            if self._journal is not None:
                logger.error(
                    "ledger: %d usage record(s) not acknowledged at shutdown; they stay in the "
                    "journal %s and the next replica on this node replays them",
                    left,
                    self._journal.folder,
                )
            else:
                logger.error("ledger: %d usage record(s) not acknowledged at shutdown, lost", left)
        if self._journal is not None:
            self._journal.close()
        return flushed

    async def run(self) -> None:
        failures = 0
        next_replay = time.monotonic()
        while True:
            if failures:
                await asyncio.sleep(self._backoff(failures))
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval_s):
                        await self._wake.wait()
            self._wake.clear()
            failures = 0 if await self._drain() else failures + 1
            if not failures and time.monotonic() >= next_replay:
                next_replay = time.monotonic() + self._replay_every_s
                await self.replay_orphans()

    async def _drain(self) -> bool:
        while self._pending or self._spilled:
            if not await self.flush_once():
                return False
        return True

    def _backoff(self, failures: int) -> float:
        return float(min(self._interval_s * 2 ** (failures - 1), self._max_backoff_s))
