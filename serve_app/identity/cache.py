"""KeyCache: an Ingress replica's copy of the key table, so that checking a key waits on no one.

A background task asks the Allowances actor for the table every `refresh_s` (an unchanged table
costs the actor a version comparison), so a key revoked on any replica stops working on every
replica within about one period. A key this replica has not seen (created a moment ago through
another replica) waits for the next round instead of asking the actor itself: someone guessing
keys costs the actor nothing, and a new key works within a period. A replica cut off from the
actor keeps checking keys against its last copy, and logs that it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from deployments.background import BackgroundLoop
from serve_app.identity.book import KeyBook, Snapshot
from serve_app.identity.keys import ApiKey

logger = logging.getLogger(__name__)

KEY_SYNC_S = 0.5  # the period of a replica's key refresh: a revoked key's longest life, about
SNAPSHOT_TIMEOUT_S = 5.0


class NamedActorLike(Protocol):
    async def call(self, method: str, *args: Any) -> Any: ...


class KeyService(Protocol):
    """The key table's owner: the Allowances actor in the cluster, a `LocalKeys` in tests."""

    async def snapshot(self, known: str | None) -> Snapshot | None: ...

    async def add(self, record: ApiKey, hashed: str) -> ApiKey: ...

    async def records(self) -> list[ApiKey]: ...

    async def revoke(self, key_id: str) -> ApiKey | None: ...


class LocalKeys:
    """A `KeyService` over a `KeyBook` in this process (tests, and anything without Ray)."""

    def __init__(self, book: KeyBook) -> None:
        self.book = book

    async def snapshot(self, known: str | None) -> Snapshot | None:
        return self.book.snapshot(known)

    async def add(self, record: ApiKey, hashed: str) -> ApiKey:
        return self.book.add(record, hashed)

    async def records(self) -> list[ApiKey]:
        return self.book.records()

    async def revoke(self, key_id: str) -> ApiKey | None:
        return self.book.revoke(key_id)


class KeyCache:
    def __init__(self, service: KeyService, refresh_s: float = KEY_SYNC_S) -> None:
        self.service = service
        self._refresh_s = refresh_s
        self._keys: dict[str, ApiKey] = {}
        self._version: str | None = None
        self._round = asyncio.Event()  # set (and replaced) after each round, success or not
        self._loop = BackgroundLoop()
        self._failing = False

    def start(self) -> None:
        self._loop.start(self._run)

    async def aclose(self) -> None:
        await self._loop.stop()

    def get(self, hashed: str) -> ApiKey | None:
        """The usable key with this hash, as this replica knows it now."""
        key = self._keys.get(hashed)
        return key if key is not None and key.usable(time.time()) else None

    def known(self, hashed: str) -> ApiKey | None:
        """The key's record even when it has expired (to say so), None when unknown."""
        return self._keys.get(hashed)

    async def find(self, hashed: str, wait_s: float = 2 * KEY_SYNC_S + 1) -> ApiKey | None:
        """`get`, and for a key not known here, once more after the next refresh round."""
        if hashed in self._keys:
            return self.get(hashed)
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._round.wait()
        return self.get(hashed)

    def remember(self, record: ApiKey, hashed: str) -> None:
        """A key this replica just created: usable here at once, before the next round."""
        self._keys[hashed] = record

    def forget(self, key_id: str) -> None:
        """A key this replica just revoked: refused here at once."""
        self._keys = {h: k for h, k in self._keys.items() if k.id != key_id}

    async def refresh(self) -> None:
        async with asyncio.timeout(SNAPSHOT_TIMEOUT_S):
            snapshot = await self.service.snapshot(self._version)
        if snapshot is not None:
            self._version, self._keys = snapshot

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
                if self._failing:
                    logger.warning("key table reachable again")
                self._failing = False
            except Exception as error:  # the actor restarting, or gone: keep the last copy
                if not self._failing:
                    logger.warning(
                        "cannot refresh the key table (%s); checking keys against the last copy",
                        type(error).__name__,
                    )
                self._failing = True
            done, self._round = self._round, asyncio.Event()
            done.set()
            await asyncio.sleep(self._refresh_s)


class ActorKeys:
    """A `KeyService` over the Allowances actor's key methods (a `NamedActor`)."""

    def __init__(self, actor: NamedActorLike) -> None:
        self._actor = actor

    async def snapshot(self, known: str | None) -> Snapshot | None:
        snapshot: Snapshot | None = await self._actor.call("keys_snapshot", known)
        return snapshot

    async def add(self, record: ApiKey, hashed: str) -> ApiKey:
        added: ApiKey = await self._actor.call("add_key", record, hashed)
        return added

    async def records(self) -> list[ApiKey]:
        records: list[ApiKey] = await self._actor.call("key_records")
        return records

    async def revoke(self, key_id: str) -> ApiKey | None:
        revoked: ApiKey | None = await self._actor.call("revoke_key", key_id)
        return revoked
