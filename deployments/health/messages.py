"""What Ingress replicas and the ProviderHealth actor send each other.

Plain frozen dataclasses with slots: they are pickled ten times a second per replica, and carry no
validation worth pydantic's cost (the replica builds them itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployments.health.breaker import BreakerView, State


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result at one provider, as its breaker should count it."""

    provider: str
    ok: bool
    error_kind: str | None  # the exception class name; see breaker.NEUTRAL_ERRORS
    at: float  # wall-clock time the attempt ended


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """The cluster's breakers as the actor saw them at `taken_at`. A small fixed-size map: one
    entry per provider."""

    taken_at: float
    providers: dict[str, BreakerView] = field(default_factory=dict)

    def state(self, provider: str) -> State:
        view = self.providers.get(provider)
        return State.CLOSED if view is None else view.state
