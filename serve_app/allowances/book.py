"""The actor's side of the leases: who holds how much of each allowance, and what is left.

Per allowance and window the book keeps, for each replica, what it was granted, consumed and gave
back (all cumulative). From those:

    used      = base + Σ consumed                   what the window has really spent
    held(r)   = max(granted − returned, consumed)   what replica r may have spent by now
    committed = base + Σ held                       used, plus every lease still out
    pool      = limit − committed                   what no replica holds

A grant never exceeds the pool, so the leases together can never allow more than the limit: no
over-grant, whatever the replicas do with their leases and however messages are lost. (A budget
can still be overrun by calls whose real cost exceeded their estimate; that shows up as
`consumed > granted` and is counted in full.)

Each replica is offered a fair share of what is left unspent (`target`): everything left divided
by the replicas seen lately, so a replica that joins late gets its part as the others give back
their excess. When a replica reports it was *starved* (a call found its lease empty while the
window still had room), the others' targets drop to the rounded-down share, so the last whole
units move to where the calls are. A replica silent for `reclaim_after_s` is presumed gone and its
unspent lease returns to the pool; replicas stop using a lease well before that (`LeaseClient`).

**Rate limits** (a key's rpm and tpm, kind `rpm`/`tpm`) use the same grants with one difference:
a unit is never consumed, only *held*. A replica that uses a unit keeps it busy for 60 s (a
sliding minute, `replica.Lease`) and can give back only free units, so every unit used in the last
60 s is still counted in some replica's `granted − returned`. The grants never exceed the limit,
hence no 60 s span anywhere in the cluster sees more than `limit` units used: **rpm overshoot 0,
whatever the number of replicas**. Rate units follow the calls (`_rate_target`): a replica whose
calls wait for units may take the whole pool, and while one does, the others give back every free
unit they hold (they report what they have in use, `busy`), so a replica with no calls on a key
keeps none of it idle while another's calls wait. A silent replica's units come back only after
`reclaim_after_s + 60 s`, so those it used until its lease went stale (`lease_ttl_s`, well under
`reclaim_after_s`) have cooled by then. tpm holds the same way for what was *reserved*; what can
exceed it is only tokens a provider counted beyond the reservation (the prompt is estimated at 4
characters a token; the output cannot exceed its reservation, the cap the provider is sent).

`base` is what the window had spent before the book first saw it: for a rolling-24h allowance, the
23 hourly buckets before it; for a new window, what the usage ledger already holds for it (a
budget configured mid-day starts from the day's spend so far).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from serve_app.allowances.messages import (
    RATE_WINDOW_S,
    AllowanceSpec,
    AllowanceStatus,
    Holding,
    LeaseGrant,
    LeaseReport,
)
from serve_app.allowances.windows import Window, rolling_history_start

FORGET_AFTER_S = 86_400.0  # a window this long over can no longer be reported against
# A holder whose lease did not change is still written this often, for its `last_seen`: what a
# restarted actor needs to tell a live replica from a gone one, and not worth a write each round.
SAVE_LAST_SEEN_S = 10.0


@dataclass
class Holder:
    granted: float = 0.0
    consumed: float = 0.0
    returned: float = 0.0
    last_seen: float = 0.0
    starved_at: float | None = None
    saved_at: float | None = None  # in memory only: when the store last got this holder
    busy: float = 0.0  # in memory only: rate units reserved or cooling at its last report
    waiting: bool = False  # in memory only: its last report said it went without (starved)

    def state(self) -> tuple[float, float, float, float | None]:
        return (self.granted, self.consumed, self.returned, self.starved_at)

    def held(self, live: bool) -> float:
        if not live:
            return self.consumed
        return max(self.granted - self.returned, self.consumed)

    def on_hand(self) -> float:
        return max(0.0, self.granted - self.returned - self.consumed)


@dataclass
class Allowance:
    spec: AllowanceSpec
    window: Window
    base: float = 0.0
    exhausted_until: float | None = None
    holders: dict[str, Holder] = field(default_factory=dict)

    def used(self) -> float:
        return self.base + sum(h.consumed for h in self.holders.values())


class AllowanceStore(Protocol):
    """Where the book keeps its state, so that a restarted actor never grants twice."""

    def load(self, ended_after: float) -> list[Allowance]: ...

    def save(self, allowances: Sequence[Allowance]) -> None: ...

    def consumed_between(self, key: str, start: float, end: float) -> float:
        """What a key's windows that started in [start, end) consumed, bases excluded."""
        ...

    def seed(self, spec: AllowanceSpec, window: Window) -> float:
        """What the usage ledger already holds against `spec` in `window` (0 if nothing)."""
        ...


class AllowanceBook:
    def __init__(
        self,
        store: AllowanceStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        active_s: float = 3.0,
        reclaim_after_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._active_s = active_s  # replicas seen this recently share the allowance
        self._reclaim_after_s = reclaim_after_s  # silent this long: presumed gone
        self._allowances: dict[tuple[str, str], Allowance] = {}
        self._forgot_at = clock()
        if store is not None:
            for allowance in store.load(ended_after=clock() - FORGET_AFTER_S):
                self._allowances[(allowance.spec.key, allowance.window.key)] = allowance

    # --- the round trip ---------------------------------------------------------------------------

    def sync(self, replica: str, reports: Iterable[LeaseReport]) -> list[LeaseGrant]:
        now = self._clock()
        changed: list[Allowance] = []
        grants = []
        for report in reports:
            known = self._allowances.get((report.spec.key, report.window))
            spec_before = known.spec if known is not None else None
            allowance = self._allowance(report, now)
            holder = allowance.holders.setdefault(replica, Holder())
            before = (holder.state(), allowance.exhausted_until, spec_before)
            holder.consumed = max(holder.consumed, report.consumed)
            holder.returned = max(holder.returned, report.returned)
            holder.last_seen = now
            holder.busy = report.busy
            holder.waiting = report.starved
            if report.starved:
                holder.starved_at = now
            if report.exhausted_until is not None and (
                allowance.exhausted_until is None
                or report.exhausted_until > allowance.exhausted_until
            ):
                allowance.exhausted_until = report.exhausted_until
            share = self._share(allowance, now)
            if allowance.spec.is_rate:
                target = self._rate_target(allowance, replica, share, report.starved, now)
            else:
                target = self._keep(allowance, replica, share, now)
            holder.granted += self._grant(allowance, holder, target, now)
            after = (holder.state(), allowance.exhausted_until, allowance.spec)
            if (
                after != before
                or holder.saved_at is None
                or now - holder.saved_at >= SAVE_LAST_SEEN_S
            ):
                holder.saved_at = now
                changed.append(allowance)
            grants.append(self._answer(allowance, replica, target, now))
        if self._store is not None and changed:
            # Saved before answering: a replica only ever spends grants that survive a restart.
            self._store.save(changed)
        self._forget_old(now)
        return grants

    def status(self) -> list[AllowanceStatus]:
        """Every allowance in its current window, keyed by spec."""
        now = self._clock()
        latest: dict[str, Allowance] = {}
        for allowance in self._allowances.values():
            # A key's rate limit is no spend: `/v1/spend` and the CLI list free tiers and budgets.
            if allowance.window.contains(now) and not allowance.spec.is_rate:
                latest[allowance.spec.key] = allowance
        return [self._status(allowance, now) for _, allowance in sorted(latest.items())]

    # --- internals --------------------------------------------------------------------------------

    def _allowance(self, report: LeaseReport, now: float) -> Allowance:
        key = (report.spec.key, report.window)
        allowance = self._allowances.get(key)
        if allowance is None:
            window = Window(report.window, report.window_start, report.window_end)
            allowance = Allowance(report.spec, window)
            allowance.base = self._base(report.spec, window)
            allowance.exhausted_until = self._carried_exhaustion(report.spec.key, window)
            self._allowances[key] = allowance
        # The replicas hold the configuration: the latest report's limit is the one in force.
        allowance.spec = report.spec
        return allowance

    def _base(self, spec: AllowanceSpec, window: Window) -> float:
        if self._store is None or spec.is_rate:
            return 0.0
        if spec.reset == "rolling-24h":
            history = self._store.consumed_between(
                spec.key, rolling_history_start(window), window.start
            )
            if history:
                return history
            # No bucket history (a new book): count what the usage ledger holds for the period.
            span = Window(window.key, rolling_history_start(window), window.end)
            return self._store.seed(spec, span)
        return self._store.seed(spec, window)

    def _carried_exhaustion(self, key: str, window: Window) -> float | None:
        """A quota the provider said is spent past the end of the last window stays spent."""
        until = [
            c.exhausted_until
            for c in self._allowances.values()
            if c.spec.key == key and c.exhausted_until is not None
        ]
        latest = max(until, default=None)
        return latest if latest is not None and latest > window.start else None

    def _live(self, allowance: Allowance, holder: Holder, now: float) -> bool:
        # A rate unit a silent replica used last is busy for 60 s more: not reclaimed before.
        cooling = RATE_WINDOW_S if allowance.spec.is_rate else 0.0
        return now - holder.last_seen < self._reclaim_after_s + cooling

    def _exhausted(self, allowance: Allowance, now: float) -> bool:
        return allowance.exhausted_until is not None and allowance.exhausted_until > now

    def _committed(self, allowance: Allowance, now: float) -> float:
        holders = allowance.holders.values()
        return allowance.base + sum(h.held(self._live(allowance, h, now)) for h in holders)

    def _share(self, allowance: Allowance, now: float) -> float:
        """What each replica seen lately may hold: an equal part of what is left unspent."""
        if self._exhausted(allowance, now) or not allowance.window.contains(now):
            return 0.0
        active = [h for h in allowance.holders.values() if now - h.last_seen < self._active_s]
        unspent = max(0.0, allowance.spec.limit - allowance.used())
        share = unspent / max(1, len(active))
        # Whole units are shared rounded up, so that the last unit is held somewhere.
        return float(math.ceil(share)) if allowance.spec.integral else share

    def _keep(self, allowance: Allowance, replica: str, share: float, now: float) -> float:
        """What `replica` should hold on to; it gives back the rest of what it has not reserved.

        A replica whose calls went without lately keeps its share. One that did not, while
        another did, keeps only the rounded-down part, so the last whole units move to where the
        calls are (when both went without, the holder keeps it: either will use it)."""
        if not allowance.spec.integral or share == 0:
            return share

        def starved(holder: Holder) -> bool:
            return holder.starved_at is not None and now - holder.starved_at < self._active_s

        here = allowance.holders[replica]
        elsewhere = any(starved(h) for r, h in allowance.holders.items() if r != replica)
        if elsewhere and not starved(here):
            active = [h for h in allowance.holders.values() if now - h.last_seen < self._active_s]
            unspent = max(0.0, allowance.spec.limit - allowance.used())
            return float(math.floor(unspent / max(1, len(active))))
        return share

    def _rate_target(
        self, allowance: Allowance, replica: str, share: float, starved: bool, now: float
    ) -> float:
        """What `replica` should hold of a key's rate limit: units follow the calls.

        A replica whose calls are waiting (starved in this report) may take all the pool has.
        One that is not, while another's last report said its calls wait, keeps only what it has
        in use and gives back every free unit, so that no unit sits idle where there are no
        calls. Otherwise each holds its share. Only free units ever move (cooling ones stay
        held), so this cannot raise the bound: the grants never exceed the limit."""
        if share == 0:
            return share
        if starved:
            return allowance.spec.limit
        if any(
            h.waiting and now - h.last_seen < self._active_s
            for r, h in allowance.holders.items()
            if r != replica
        ):
            return allowance.holders[replica].busy
        return share

    def _grant(self, allowance: Allowance, holder: Holder, target: float, now: float) -> float:
        pool = allowance.spec.limit - self._committed(allowance, now)
        grant = min(target - holder.on_hand(), pool)
        if allowance.spec.integral:
            grant = math.floor(grant)
        return max(0.0, grant)

    def _answer(self, allowance: Allowance, replica: str, target: float, now: float) -> LeaseGrant:
        holder = allowance.holders[replica]
        others_busy = sum(
            h.busy
            for r, h in allowance.holders.items()
            if r != replica and self._live(allowance, h, now)
        )
        return LeaseGrant(
            key=allowance.spec.key,
            window=allowance.window.key,
            granted=holder.granted,
            target=target,
            used=allowance.used(),
            committed=self._committed(allowance, now),
            limit=allowance.spec.limit,
            exhausted_until=allowance.exhausted_until if self._exhausted(allowance, now) else None,
            consumed=holder.consumed,
            returned=holder.returned,
            others_busy=others_busy,
        )

    def _status(self, allowance: Allowance, now: float) -> AllowanceStatus:
        return AllowanceStatus(
            spec=allowance.spec,
            window=allowance.window.key,
            window_end=allowance.window.end,
            used=allowance.used(),
            committed=self._committed(allowance, now),
            exhausted_until=allowance.exhausted_until if self._exhausted(allowance, now) else None,
            holdings=tuple(
                Holding(replica=r, on_hand=h.on_hand(), last_seen=h.last_seen)
                for r, h in sorted(allowance.holders.items())
                if self._live(allowance, h, now)
            ),
        )

    def _idle(self, allowance: Allowance, now: float) -> bool:
        """A rate limit nobody holds any of, whose replicas all fell silent: the key is idle, and
        its window never ends, so without this it would stay in memory for good."""
        return self._committed(allowance, now) == 0 and not any(
            self._live(allowance, h, now) for h in allowance.holders.values()
        )

    def _forget_old(self, now: float) -> None:
        """Keep memory to the live windows: anything long over lives only in the store."""
        if now - self._forgot_at < 60:
            return
        self._forgot_at = now
        old = [
            key
            for key, c in self._allowances.items()
            if c.window.end < now - FORGET_AFTER_S or (c.spec.is_rate and self._idle(c, now))
        ]
        for key in old:
            del self._allowances[key]
