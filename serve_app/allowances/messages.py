"""What Ingress replicas and the Allowances actor send each other about free tiers and budgets.

An allowance is a limited amount per window: a free tier's requests or tokens per day, a tenant's
or agent's USD per day or month. The actor owns the count; each replica holds a *lease*, a share
of what is left, and spends it locally without asking (design §9: no request waits on an actor).

Every amount a replica reports is cumulative for the window (consumed so far, returned so far) and
every amount the actor answers is cumulative too (granted so far). Taking the larger of an old and
a new value is then always right, so a lost or repeated message can neither lose nor double
anything, and an actor restarted from its store picks up where it was.

Plain frozen dataclasses with slots: they cross the actor boundary ten times a second per replica
and carry no validation worth pydantic's cost (both sides build them themselves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from serve_app.allowances.windows import Reset

Kind = Literal["free_requests", "free_tokens", "budget", "rpm", "tpm"]
RATE_KINDS: frozenset[Kind] = frozenset({"rpm", "tpm"})
RATE_WINDOW_S = 60.0  # a key's rate limits count what it used in the last 60 seconds


@dataclass(frozen=True, slots=True)
class AllowanceSpec:
    """One allowance, as configured (the directory's free tiers, the tenants' budgets)."""

    key: str  # e.g. "free_requests:google/gemini-2.5-flash-free", "budget:acme/bot:day", "rpm:k1"
    kind: Kind
    reset: Reset
    limit: float  # requests, tokens or USD per window (rate limits: per sliding minute)
    model: str | None = None  # free tiers
    tenant: str | None = None  # budgets
    agent: str | None = None  # agent budgets; None: the tenant's own budget

    @property
    def integral(self) -> bool:
        """Whole units (requests, tokens) are leased whole; USD is leased to the fraction."""
        return self.kind != "budget"

    @property
    def is_rate(self) -> bool:
        """A key's rate limit: units held are *recycled* 60 s after use, never consumed."""
        return self.kind in RATE_KINDS


@dataclass(frozen=True, slots=True)
class LeaseReport:
    """A replica's state for one allowance in one window; sent every round."""

    spec: AllowanceSpec
    window: str
    window_start: float
    window_end: float
    consumed: float  # cumulative: what this replica's calls used
    returned: float  # cumulative: what this replica gave back unused
    starved: bool = False  # a call found this replica's lease short while the window had room
    exhausted_until: float | None = None  # the provider said the quota is spent (429)
    # Rate limits: units reserved by calls in flight or cooling now (what it may not give back).
    busy: float = 0.0


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """The actor's answer for one allowance: the replica's lease and the cluster's totals."""

    key: str
    window: str
    granted: float  # cumulative: everything ever leased to this replica in this window
    target: float  # what the replica should hold unspent; it gives back any excess
    used: float  # the cluster's consumption in the window (earlier buckets included)
    committed: float  # used plus every lease still outstanding
    limit: float
    exhausted_until: float | None = None
    # This replica's own cumulative figures as the actor holds them: a replica that lost its
    # count (a lease dropped and made again) takes them up rather than count them on hand again.
    consumed: float = 0.0
    returned: float = 0.0
    # Rate limits: what the other replicas had in use at their last reports. The rest of the
    # limit, less what this replica holds, is free somewhere and can move here.
    others_busy: float = 0.0


@dataclass(frozen=True, slots=True)
class Holding:
    """One replica's lease of one allowance, for status pages."""

    replica: str
    on_hand: float  # leased and not yet spent
    last_seen: float  # unix time of its last report


@dataclass(frozen=True, slots=True)
class AllowanceStatus:
    """One allowance in its current window, as the actor sees it (`GET /v1/spend`, the CLI)."""

    spec: AllowanceSpec
    window: str
    window_end: float
    used: float
    committed: float
    exhausted_until: float | None
    holdings: tuple[Holding, ...] = field(default_factory=tuple)

    @property
    def remaining(self) -> float:
        """What the window still allows; 0 while the provider says the quota is spent."""
        if self.exhausted_until is not None:
            return 0.0
        return max(0.0, self.spec.limit - self.used)

    def as_dict(self) -> dict[str, object]:
        spec = self.spec
        return {
            "key": spec.key,
            "kind": spec.kind,
            "model": spec.model,
            "tenant": spec.tenant,
            "agent": spec.agent,
            "reset": spec.reset,
            "window": self.window,
            "window_end": self.window_end,
            "limit": spec.limit,
            "used": self.used,
            "leased": max(0.0, self.committed - self.used),
            "remaining": self.remaining,
            "exhausted_until": self.exhausted_until,
            "replicas": [
                {"replica": h.replica, "on_hand": h.on_hand, "last_seen": h.last_seen}
                for h in self.holdings
            ],
        }
