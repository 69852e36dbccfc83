"""LeaseClient: an Ingress replica's leases of the allowances (the actor's side: `book.py`).

The request path asks `covers` and `available` (questions: the plan's), and calls `reserve`,
`settle`, `release`, `note_short` and `mark_exhausted` (as attempts open and end): synchronous
dictionary arithmetic on this replica's lease, never an await. A reservation succeeds only out of
what the actor has already leased to this replica, so a replica can never spend what another holds;
the price is that a call may find its replica's lease empty while another replica's still has some
(it is then *starved*: it reports so, and the lease moves over within a round or two).

A key's rate limits (rpm, tpm) are allowances too, registered as calls bring them (`use_rate`,
from the checked key's `KeyLimits`) rather than configured. Their units are recycled, not
consumed: a settled reservation's real amount stays *cooling* on this replica for 60 s (a sliding
minute) and is free again after; only free units are ever given back, so no unit is used twice
within 60 s anywhere in the cluster. A key this replica has not seen before (or dropped, idle for
`RATE_IDLE_S`) has no lease yet: its first call waits for one round with the actor (`first_round`,
bounded by `call_timeout_s`); every later call spends locally, except one that finds this
replica's units all in use while the last round said others are free elsewhere: it waits a few
rounds for them to move here (`reserve_soon`), so that a key's limit is reached whichever
replicas its calls reach.

A background task (`run`) reports every lease each round, gives back whatever exceeds the
actor's target, and adopts the actor's answer. A lease is only good while the actor has answered
lately (`lease_ttl_s`): a replica cut off from it stops spending well before the actor presumes it
gone and hands its lease to others, so a partition cannot make two replicas spend the same part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import cast

from deployments.background import BackgroundLoop
from serve_app.allowances.messages import RATE_WINDOW_S, AllowanceSpec, LeaseGrant, LeaseReport
from serve_app.allowances.windows import Window, window_at

logger = logging.getLogger(__name__)

SyncFn = Callable[[str, list[LeaseReport]], Awaitable[list[LeaseGrant]]]
_EPSILON = 1e-12  # USD arithmetic in floats: a reservation of exactly what is left must fit
RATE_IDLE_S = 120.0  # a key's rate lease unused this long (and all cooled) is given back


class Lease:
    """This replica's lease of one allowance in one window."""

    __slots__ = (
        "_cooling",
        "committed",
        "consumed",
        "cooling",
        "exhausted_until",
        "granted",
        "limit",
        "others_busy",
        "reserved",
        "returned",
        "spec",
        "starved",
        "target",
        "used",
        "used_at",
        "window",
    )

    def __init__(self, spec: AllowanceSpec, window: Window) -> None:
        self.spec = spec
        self.window = window
        self.granted = 0.0  # the actor's figure, adopted each round
        self.consumed = 0.0
        self.returned = 0.0
        self.reserved = 0.0  # by calls in flight
        self.target: float | None = None
        self.used = 0.0  # cluster-wide, as of the last round
        self.committed = 0.0
        self.limit = spec.limit
        self.exhausted_until: float | None = None
        self.starved = False
        self.cooling = 0.0  # rate limits: used in the last 60 s, free again after
        self._cooling: deque[tuple[float, float]] = deque()  # (free again at, amount)
        self.used_at = 0.0  # when a call last brought or reserved it
        self.others_busy = 0.0  # rate limits: in use on other replicas, as of the last round

    def available(self) -> float:
        return self.granted - self.consumed - self.returned - self.reserved - self.cooling

    def busy(self) -> float:
        """What this replica holds but may not give back: reserved by calls in flight, or
        cooling."""
        return self.reserved + self.cooling

    def cool(self, amount: float, until: float) -> None:
        self.cooling += amount
        self._cooling.append((until, amount))

    def thaw(self, now: float) -> None:
        """Units whose 60 s are over are free again."""
        while self._cooling and self._cooling[0][0] <= now:
            self.cooling = _clean(self.cooling - self._cooling.popleft()[1])

    def movable(self) -> float:
        """Rate limits: units of the limit this replica does not hold and no other replica had
        in use at its last report: in the actor's pool or free on another replica."""
        return max(0.0, self.limit - (self.granted - self.returned) - self.others_busy)

    def free_in(self, amount: float, now: float) -> float | None:
        """Seconds until `amount` is free here as what is cooling thaws; None if thawing alone
        cannot free it (it waits for calls in flight, or for more lease)."""
        free = self.available()
        for until, cooled in self._cooling:
            if free + _EPSILON >= amount:
                break
            free += cooled
            if free + _EPSILON >= amount:
                return max(0.0, until - now)
        return 0.0 if free + _EPSILON >= amount else None

    def exhausted(self, now: float) -> bool:
        return self.exhausted_until is not None and self.exhausted_until > now

    def report(self) -> LeaseReport:
        return LeaseReport(
            spec=self.spec,
            window=self.window.key,
            window_start=self.window.start,
            window_end=self.window.end,
            consumed=self.consumed,
            returned=self.returned,
            starved=self.starved,
            exhausted_until=self.exhausted_until,
            busy=self.busy(),
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation: `amount` of `lease`, to settle or release exactly once."""

    lease: Lease
    amount: float


@dataclass(frozen=True, slots=True)
class Standing:
    """What a replica knows of an allowance: the limit, and the cluster's spend as of its last
    round."""

    limit: float
    used: float
    committed: float
    available: float  # on this replica's lease, now
    window_end: float


class LeaseClient:
    def __init__(
        self,
        replica_id: str,
        sync: SyncFn,
        *,
        clock: Callable[[], float] = time.time,
        lease_ttl_s: float = 20.0,
        call_timeout_s: float = 2.0,
    ) -> None:
        self.replica_id = replica_id
        self._sync = sync
        self._clock = clock
        self._lease_ttl_s = lease_ttl_s
        self._call_timeout_s = call_timeout_s
        self._specs: dict[str, AllowanceSpec] = {}
        self._rates: dict[str, AllowanceSpec] = {}  # keys' rate limits, as calls bring them
        self._leases: dict[str, Lease] = {}
        self._urgent: asyncio.Task[bool] | None = None  # a round a first call waits for
        self._rounds_running = False  # the background loop (`run`) is on
        self._round_end: asyncio.Future[None] | None = None  # what `next_round` waits for
        self._closing: list[Lease] = []  # ended windows (or dropped allowances) still to report
        self._last_ok: float | None = None
        self._failed_rounds = 0
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop()

    @classmethod
    def for_actor(cls, replica_id: str, *, name: str, namespace: str | None = None) -> LeaseClient:
        """A client of the named Allowances actor (the Ray glue: the only Ray-aware part)."""
        from deployments.named_actor import NamedActor

        actor = NamedActor(name, namespace)

        async def sync(replica: str, reports: list[LeaseReport]) -> list[LeaseGrant]:
            return cast(list[LeaseGrant], await actor.call("sync", replica, reports))

        return cls(replica_id, sync)

    # --- configuration ----------------------------------------------------------------------------

    def configure(self, specs: Iterable[AllowanceSpec]) -> None:
        """The allowances in force (on start and every reload). A changed limit keeps the lease; an
        allowance no longer configured is reported one last time and dropped."""
        by_key = {spec.key: spec for spec in specs}
        for key in list(self._leases):
            if key not in by_key and key not in self._rates:
                self._closing.append(self._leases.pop(key))
        for key, spec in by_key.items():
            lease = self._leases.get(key)
            if lease is not None and lease.spec.reset != spec.reset:
                self._closing.append(self._leases.pop(key))  # a new rule: new windows
            elif lease is not None:
                lease.spec = spec
                lease.limit = spec.limit
        self._specs = by_key
        self._poke()  # new allowances get their first lease now, not a round later

    # --- the request path: synchronous, O(1) ------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self._specs or key in self._rates

    def use_rate(self, spec: AllowanceSpec) -> bool:
        """A call brings a key's rate limit: lease it from now on (a changed limit is adopted, as
        `configure` does). True when this replica already holds an answered lease of it."""
        known = self._rates.get(spec.key)
        if known != spec:
            self._rates[spec.key] = spec
            lease = self._leases.get(spec.key)
            if lease is not None:
                lease.spec, lease.limit = spec, spec.limit
            if known is None:
                self._poke()
        lease = self._leases.get(spec.key)
        if lease is None:
            return False
        lease.used_at = self._clock()  # brought by a call, even one it may refuse: not idle
        return lease.target is not None

    async def first_round(self, key: str) -> None:
        """Wait (at most `call_timeout_s`, twice) until a round has answered for `key`: only a
        key's first call on this replica does; without an answer the call finds no lease."""
        for _ in range(2):
            lease = self._leases.get(key)
            if lease is not None and lease.target is not None:
                return
            if self._urgent is None or self._urgent.done():
                self._urgent = asyncio.ensure_future(self.sync_once())
            # shield: a caller who gives up must not cancel the round others wait for too.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._urgent)

    async def reserve_soon(self, key: str, amount: float, within_s: float) -> Reservation | None:
        """A key's rate limit: `reserve`, or, when this replica's lease is short while units not
        in use elsewhere could cover `amount`, wait for them to move here (the book gives a
        waiting replica what others hold free) and try again, for at most `within_s`. None when
        the cluster has no such units, or they did not come in time. Only with the background
        rounds on: without them nothing moves here while it waits."""
        reservation = self.reserve(key, amount)
        give_up_at = time.monotonic() + within_s
        while reservation is None and self._rounds_running and self._could_move(key, amount):
            left = give_up_at - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._next_round()
            reservation = self.reserve(key, amount)  # short again: starved again, said next round
        return reservation

    def _could_move(self, key: str, amount: float) -> bool:
        now = self._clock()
        lease = self._current(key, now)
        if lease is None or not lease.spec.is_rate or lease.exhausted(now) or not self._fresh(now):
            return False
        return lease.available() + lease.movable() + _EPSILON >= amount

    async def _next_round(self) -> None:
        """Until the background loop's next round has answered (started now, not waited for)."""
        if self._round_end is None or self._round_end.done():
            self._round_end = asyncio.get_running_loop().create_future()
        self._poke()
        # shield: a caller who gives up must not cancel what other waiters wait for too.
        await asyncio.shield(self._round_end)

    def retry_after(self, key: str, amount: float) -> float:
        """Seconds until this replica could cover `amount` of `key` again: when enough of what
        cooling thaws, else a second (the lease moves here, or calls in flight end, by then)."""
        now = self._clock()
        lease = self._current(key, now)
        wait = lease.free_in(amount, now) if lease is not None and self._fresh(now) else None
        return 1.0 if wait is None else max(1.0, wait)

    def covers(self, key: str, amount: float) -> bool:
        """Could this replica's lease of `key` cover `amount` now? A question: nothing is set
        aside (that is `reserve`)."""
        return self.available(key) + _EPSILON >= amount

    def reserve(self, key: str, amount: float) -> Reservation | None:
        """Set `amount` aside from this replica's lease, or None when the lease cannot cover it."""
        now = self._clock()
        lease = self._current(key, now)
        if lease is None or lease.exhausted(now):
            return None
        if self._fresh(now) and lease.available() + _EPSILON >= amount:
            lease.reserved += amount
            lease.used_at = now
            return Reservation(lease, amount)
        self.note_short(key, amount)
        return None

    def note_short(self, key: str, amount: float) -> None:
        """A call needed `amount` of `key` and this replica's lease could not cover it. When the
        window still has room elsewhere, this replica is *starved*: it says so, and asks at once,
        so that the lease moves to where the calls are."""
        now = self._clock()
        lease = self._current(key, now)
        if lease is None or lease.exhausted(now):
            return
        if lease.limit - lease.used >= amount:
            lease.starved = True
            self._poke()

    def settle(self, reservation: Reservation, actual: float) -> None:
        """The call is over: its reservation becomes what it really used."""
        lease = reservation.lease
        lease.reserved = _clean(lease.reserved - reservation.amount)
        if lease.spec.is_rate:
            # Not consumed: held, busy for 60 s, then free again on this same lease.
            if actual > 0:
                lease.cool(actual, self._clock() + RATE_WINDOW_S)
        else:
            lease.consumed += actual

    def release(self, reservation: Reservation) -> None:
        """The call used none of it."""
        lease = reservation.lease
        lease.reserved = _clean(lease.reserved - reservation.amount)

    def mark_exhausted(self, key: str, until: float | None = None) -> None:
        """The provider says the quota is spent: none of it here until `until` (default: the
        window's end), and the actor tells every other replica on its next round."""
        now = self._clock()
        lease = self._current(key, now)
        if lease is None:
            return
        until = lease.window.end if until is None else until
        if lease.exhausted_until is None or until > lease.exhausted_until:
            lease.exhausted_until = until
        self._poke()

    def available(self, key: str) -> float:
        """What this replica's lease of `key` can still cover now (0 for an unknown allowance)."""
        now = self._clock()
        lease = self._current(key, now)
        if lease is None or lease.exhausted(now) or not self._fresh(now):
            return 0.0
        return lease.available()

    def standing(self, key: str) -> Standing | None:
        now = self._clock()
        lease = self._current(key, now)
        if lease is None:
            return None
        available = lease.available() if self._fresh(now) and not lease.exhausted(now) else 0.0
        return Standing(lease.limit, lease.used, lease.committed, available, lease.window.end)

    # --- the background task ----------------------------------------------------------------------

    def start(self, interval_s: float = 0.1) -> asyncio.Task[None]:
        return self._loop.start(lambda: self.run(interval_s))

    async def aclose(self) -> None:
        await self._loop.stop()
        # One last round: what this replica consumed is counted, what it holds goes back.
        for lease in self._leases.values():
            lease.target = 0.0
        with contextlib.suppress(Exception):
            await self.sync_once()

    async def run(self, interval_s: float = 0.1) -> None:
        self._rounds_running = True
        try:
            await self._rounds(interval_s)
        finally:
            self._rounds_running = False
            self._round_ended()

    async def _rounds(self, interval_s: float) -> None:
        while True:
            try:
                ok = await self.sync_once()
            except Exception:  # a bug here must not stop the rounds: leases would run dry
                logger.exception("lease round failed")
                ok = False
            self._round_ended()
            delay = interval_s if ok else min(interval_s * 2**self._failed_rounds, 2.0)
            # asyncio.timeout, not wait_for: see `sync_once`.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()

    async def sync_once(self) -> bool:
        """One round with the actor. Never raises (except cancellation)."""
        now = self._clock()
        for key in self._specs:
            self._current(key, now)  # new allowances get a lease; ended windows roll over
        self._drop_idle_rates(now)
        for key in self._rates:
            self._current(key, now)
        if not self._leases and not self._closing:
            return True
        for lease in self._leases.values():
            self._give_back_excess(lease)
        closing, self._closing = self._closing, []
        for lease in closing:
            lease.target = 0.0  # an ended window or a dropped allowance: give it all back
            self._give_back_excess(lease)
        sent = [*self._leases.values(), *closing]
        reports = [lease.report() for lease in sent]
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns an answer that came
            # as the task was cancelled and loses the cancellation (`aclose` would wait for good).
            async with asyncio.timeout(self._call_timeout_s):
                grants = await self._sync(self.replica_id, reports)
        except asyncio.CancelledError:
            self._closing = closing + self._closing
            raise
        except Exception as exc:
            self._closing = closing + self._closing
            self._failed_rounds += 1
            if self._failed_rounds == 1:
                logger.warning("Allowances unreachable; spending only what is leased: %r", exc)
            return False
        if self._failed_rounds:
            logger.info("Allowances reachable again after %d rounds", self._failed_rounds)
            self._failed_rounds = 0
        self._last_ok = now
        for lease, report, grant in zip(sent, reports, grants, strict=True):
            self._adopt(lease, grant)
            if report.starved:
                lease.starved = False
        # A closed window is done once nothing is in flight and its last consumption went out;
        # windows that closed while this round was out wait for the next.
        unfinished = [
            lease
            for lease, report in zip(closing, reports[len(sent) - len(closing) :], strict=True)
            if lease.busy() or lease.consumed != report.consumed
        ]
        self._closing = unfinished + self._closing
        return True

    # --- internals --------------------------------------------------------------------------------

    def _round_ended(self) -> None:
        ended, self._round_end = self._round_end, None
        if ended is not None and not ended.done():
            ended.set_result(None)

    def _poke(self) -> None:
        """Start the next round now. Only from the loop's own thread (asyncio.Event is not
        thread-safe); called from elsewhere (a sync `reconfigure`), the next round comes anyway."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._wake.set()

    def _fresh(self, now: float) -> bool:
        """May this replica spend its leases? Only while the actor answered lately."""
        return self._last_ok is not None and now - self._last_ok < self._lease_ttl_s

    def _current(self, key: str, now: float) -> Lease | None:
        lease = self._leases.get(key)
        if lease is not None and lease.window.contains(now):
            if lease.cooling:
                lease.thaw(now)
            return lease
        spec = self._specs.get(key) or self._rates.get(key)
        if spec is None:
            return None
        fresh = Lease(spec, window_at(spec.reset, now))
        fresh.used_at = now
        if lease is not None:
            self._closing.append(lease)
            if lease.exhausted_until is not None and lease.exhausted_until > now:
                fresh.exhausted_until = lease.exhausted_until
        self._leases[key] = fresh
        return fresh

    def _drop_idle_rates(self, now: float) -> None:
        """A key's rate limit no call used for RATE_IDLE_S, with nothing reserved or cooling,
        goes back whole: a replica does not report every key it ever saw, every round."""
        for key, lease in list(self._leases.items()):
            if key in self._rates and now - lease.used_at >= RATE_IDLE_S:
                lease.thaw(now)
                if not lease.busy():
                    del self._rates[key]
                    self._closing.append(self._leases.pop(key))

    def _give_back_excess(self, lease: Lease) -> None:
        if lease.target is None:
            return
        excess = min(lease.available(), lease.available() + lease.busy() - lease.target)
        if lease.spec.integral:
            excess = math.floor(excess)
        if excess > 0:
            lease.returned += excess

    def _adopt(self, lease: Lease, grant: LeaseGrant) -> None:
        # The actor is the only one who grants: its figure is the truth, even when lower (its
        # store was lost), so this replica never spends a grant the actor does not know of.
        lease.granted = grant.granted
        # A lease this replica made afresh (an allowance dropped and brought back) starts its
        # counts at 0, while the actor still has what the earlier one consumed and gave back:
        # take the actor's, so that those are not counted as on hand again.
        lease.consumed = max(lease.consumed, grant.consumed)
        lease.returned = max(lease.returned, grant.returned)
        lease.target = grant.target
        lease.used = grant.used
        lease.committed = grant.committed
        lease.limit = grant.limit
        lease.others_busy = grant.others_busy
        if grant.exhausted_until is not None and (
            lease.exhausted_until is None or grant.exhausted_until > lease.exhausted_until
        ):
            lease.exhausted_until = grant.exhausted_until


def _clean(value: float) -> float:
    return 0.0 if abs(value) < _EPSILON else value
