"""HealthClient: an Ingress replica's view of the providers' breakers (design §5).

The request path asks `is_available` and `could_probe` (the plan's questions: they change
nothing), takes a half-open provider's probe with `try_acquire_probe` as an attempt opens (and
gives it back with `release_probe` if the attempt does not start), and tells `record`; all of it
synchronous dictionary work, never an await and never an actor call. A background task (`run`)
talks to the ProviderHealth actor: each round pushes the outcomes recorded since the last round,
asks for the probes this replica wants, and adopts the snapshot that comes back.

The local breaker of a provider is the replica's best estimate of the cluster's breaker: each
successful round resets it to the cluster's view and replays the outcomes recorded since that
round began, so it is open whenever the cluster snapshot is open or the replica's own newer
outcomes opened it. When the actor is unreachable the local breakers simply carry on from the last
snapshot with the replica's own outcomes, and, once the snapshot is stale, the replica probes a
half-open provider itself rather than waiting for a grant that cannot come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

from deployments.background import BackgroundLoop
from deployments.health.breaker import (
    DEFAULT_SETTINGS,
    Breaker,
    BreakerSettings,
    Clock,
    State,
    error_kind,
)
from deployments.health.messages import HealthSnapshot, Outcome

logger = logging.getLogger(__name__)

SyncFn = Callable[[str, list[Outcome], list[str]], Awaitable[HealthSnapshot]]
ConfigureFn = Callable[[dict[str, tuple[int, float]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One row of `GET /v1/providers`."""

    provider: str
    state: State
    consecutive_failures: int
    failure_threshold: int
    opened_at: float | None  # unix time
    cooldown_s: float
    cooldown_remaining_s: float
    probe_holder: str | None
    view: Literal["cluster", "local"]  # "local": the actor is unreachable, this replica's own


class HealthClient:
    def __init__(
        self,
        replica_id: str,
        sync: SyncFn,
        *,
        settings: Mapping[str, tuple[int, float]] | None = None,
        default: BreakerSettings = DEFAULT_SETTINGS,
        configure: ConfigureFn | None = None,
        clock: Clock = time.time,
        stale_after_s: float = 2.0,
        call_timeout_s: float = 2.0,
        max_outbox: int = 1024,
        probe_interest_s: float = 1.0,
    ) -> None:
        self.replica_id = replica_id
        self._sync = sync
        self._configure = configure
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._call_timeout_s = call_timeout_s
        self._probe_interest_s = probe_interest_s
        self._default = default
        self._settings: dict[str, BreakerSettings] = {}
        self._breakers: dict[str, Breaker] = {}
        # Outcomes not yet delivered. Bounded: health data is advisory and the newest matters most,
        # so a long outage drops the oldest (unlike the ledger, which never drops a record).
        self._outbox: deque[Outcome] = deque(maxlen=max_outbox)
        self._wanted: dict[str, float] = {}  # provider -> last time a request wanted its probe
        self._grants: dict[str, float] = {}  # provider -> since, of a cluster probe lease we hold
        self._used_grants: dict[str, float] = {}  # provider -> since, of the lease we used
        self._last_sync_at: float | None = None
        self._failed_rounds = 0
        self._loop = BackgroundLoop()
        self.configure(settings or {})

    @classmethod
    def for_actor(
        cls,
        replica_id: str,
        *,
        name: str,
        namespace: str | None = None,
        settings: Mapping[str, tuple[int, float]] | None = None,
    ) -> HealthClient:
        """A client of the named ProviderHealth actor (the Ray glue: the only Ray-aware part)."""
        from deployments.named_actor import NamedActor

        actor = NamedActor(name, namespace)

        async def sync(replica: str, outcomes: list[Outcome], probes: list[str]) -> HealthSnapshot:
            return cast(HealthSnapshot, await actor.call("sync", replica, outcomes, probes))

        async def configure(new: dict[str, tuple[int, float]]) -> None:
            await actor.call("configure", new)

        return cls(replica_id, sync, settings=settings, configure=configure)

    # --- the request path: synchronous and O(1) ---------------------------------------------------

    def is_available(self, provider: str) -> bool:
        """May an ordinary request go to `provider`? False while open or half-open."""
        breaker = self._breakers.get(provider)
        return breaker is None or breaker.state is State.CLOSED

    def could_probe(self, provider: str) -> bool:
        """Is `provider` half-open with its one probe free, or granted to this replica and not
        used yet? A question for planning: it takes nothing and asks the cluster for nothing."""
        breaker = self._breakers.get(provider)
        if breaker is None or breaker.state is not State.HALF_OPEN:
            return False
        holder = breaker.probe_holder()
        return holder is None or (holder == self.replica_id and self._unused_grant(provider))

    def try_acquire_probe(self, provider: str) -> bool:
        """Take a half-open provider's one probe for the attempt opening now. When the cluster has
        not granted it to this replica yet, asking registers interest, so this replica is in line
        for the grant on the next round (and this attempt is skipped)."""
        breaker = self._breakers.get(provider)
        if breaker is None or breaker.state is not State.HALF_OPEN:
            return False
        if not self.connected:
            return breaker.try_acquire_probe(self.replica_id)
        if self._unused_grant(provider):
            self._used_grants[provider] = self._grants[provider]
            return True
        self._wanted[provider] = self._clock()
        return False

    def release_probe(self, provider: str) -> None:
        """Give back a probe `try_acquire_probe` took for an attempt that did not start."""
        if self._used_grants.get(provider) == self._grants.get(provider):
            self._used_grants.pop(provider, None)  # the grant is this replica's to use again
        breaker = self._breakers.get(provider)
        if breaker is not None:
            breaker.release_probe(self.replica_id)

    def record(self, provider: str, ok: bool, error: BaseException | str | None = None) -> None:
        """Count one attempt's outcome here at once, and queue it for the cluster."""
        outcome = Outcome(provider, ok, None if ok else error_kind(error), self._clock())
        self._outbox.append(outcome)
        self._apply(outcome)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the last successful round with the actor is recent."""
        last = self._last_sync_at
        return last is not None and self._clock() - last < self._stale_after_s

    def states(self) -> dict[str, ProviderStatus]:
        now = self._clock()
        view: Literal["cluster", "local"] = "cluster" if self.connected else "local"
        statuses = {}
        for provider in sorted({*self._settings, *self._breakers}):
            snap = self._breaker(provider).view()
            statuses[provider] = ProviderStatus(
                provider=provider,
                state=snap.state,
                consecutive_failures=snap.consecutive_failures,
                failure_threshold=snap.failure_threshold,
                opened_at=snap.opened_at,
                cooldown_s=snap.cooldown_s,
                cooldown_remaining_s=snap.cooldown_remaining_s(now),
                probe_holder=snap.probe_holder,
                view=view,
            )
        return statuses

    # --- configuration ----------------------------------------------------------------------------

    def configure(self, settings: Mapping[str, tuple[int, float]]) -> None:
        """Breaker settings from providers.yaml (at start and on every directory reload). The
        background task pushes them to the actor when its snapshot disagrees."""
        for provider, (threshold, cooldown_s) in settings.items():
            self._settings[provider] = BreakerSettings(int(threshold), float(cooldown_s))
            self._breaker(provider).reconfigure(self._settings[provider])

    # --- the background task ----------------------------------------------------------------------

    def start(self, interval_s: float = 0.1) -> asyncio.Task[None]:
        """Start `run` on the running event loop (idempotent)."""
        return self._loop.start(lambda: self.run(interval_s))

    async def aclose(self) -> None:
        await self._loop.stop()

    async def run(self, interval_s: float = 0.1) -> None:
        while True:
            ok = await self.sync_once()
            # Back off while the actor is gone, but not past the staleness horizon.
            delay = interval_s if ok else min(interval_s * 2**self._failed_rounds, 1.0)
            await asyncio.sleep(delay)

    async def sync_once(self) -> bool:
        """One round with the actor. Never raises (except cancellation): a lost actor is routine."""
        batch = list(self._outbox)
        self._outbox.clear()
        try:
            async with asyncio.timeout(self._call_timeout_s):
                snapshot = await self._sync(self.replica_id, batch, self._probe_requests())
        except asyncio.CancelledError:
            self._requeue(batch)
            raise
        except Exception as exc:
            # Resend next round. Should the actor have taken them after all, the breakers drop
            # the duplicate failures by their timestamps.
            self._requeue(batch)
            self._failed_rounds += 1
            if self._failed_rounds == 1:
                logger.warning("ProviderHealth unreachable, routing on local view: %r", exc)
            return False
        if self._failed_rounds:
            logger.info("ProviderHealth reachable again after %d rounds", self._failed_rounds)
            self._failed_rounds = 0
        self._adopt(snapshot)
        await self._push_settings_if_needed(snapshot)
        return True

    # --- internals --------------------------------------------------------------------------------

    def _unused_grant(self, provider: str) -> bool:
        """Does this replica hold the cluster's probe grant for `provider`, unexpired, unused?"""
        since = self._grants.get(provider)
        breaker = self._breakers.get(provider)
        if since is None or breaker is None or self._used_grants.get(provider) == since:
            return False
        return self._clock() - since < breaker.probe_timeout_s

    def _breaker(self, provider: str) -> Breaker:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = Breaker(self._settings.get(provider, self._default), clock=self._clock)
            self._breakers[provider] = breaker
        return breaker

    def _apply(self, outcome: Outcome) -> None:
        self._breaker(outcome.provider).record(
            outcome.ok, outcome.error_kind, at=outcome.at, source=self.replica_id
        )

    def _requeue(self, batch: list[Outcome]) -> None:
        # Older first; a full outbox drops the oldest.
        self._outbox = deque([*batch, *self._outbox], maxlen=self._outbox.maxlen)

    def _probe_requests(self) -> list[str]:
        now = self._clock()
        for provider, wanted_at in list(self._wanted.items()):
            if now - wanted_at >= self._probe_interest_s:
                del self._wanted[provider]  # no request has wanted it lately
        return list(self._wanted)

    def _adopt(self, snapshot: HealthSnapshot) -> None:
        self._last_sync_at = self._clock()
        for provider, breaker in self._breakers.items():
            view = snapshot.providers.get(provider)
            if view is None:
                breaker.reset()  # the actor never heard of it (or restarted): closed
            else:
                breaker.restore(view)
        for provider, view in snapshot.providers.items():
            if provider not in self._breakers:
                self._breaker(provider).restore(view)
            if view.probe_holder == self.replica_id and view.probe_since is not None:
                self._grants[provider] = view.probe_since
                self._wanted.pop(provider, None)
            else:
                self._grants.pop(provider, None)
        # Outcomes recorded while the round was in flight are newer than the snapshot.
        for outcome in self._outbox:
            self._apply(outcome)

    async def _push_settings_if_needed(self, snapshot: HealthSnapshot) -> None:
        if self._configure is None or not self._settings:
            return
        stale = {
            provider: (wanted.failure_threshold, wanted.cooldown_s)
            for provider, wanted in self._settings.items()
            if (view := snapshot.providers.get(provider)) is None
            or (view.failure_threshold, view.cooldown_s) != tuple(wanted)
        }
        if not stale:
            return
        try:
            async with asyncio.timeout(self._call_timeout_s):
                await self._configure(stale)
        except Exception as exc:  # retried next round, when the snapshot still disagrees
            logger.debug("pushing breaker settings failed: %r", exc)
