"""One background loop a replica runs beside its requests (breaker sync, ledger sends, lease
rounds, metrics flushes): started once on the running event loop, stopped by cancelling it.

Loops bound their awaits with `asyncio.timeout`, never `asyncio.wait_for`: on Python 3.11,
`wait_for` can swallow a cancellation that arrives just as its inner call finishes, and the loop
then runs on, so `stop()` waits forever (seen as a replica's shutdown, and a test's teardown,
hanging)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        """Run `loop()` as a task on the running event loop, unless one is running already."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(loop())
        return self._task

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
