"""ProviderHealth: the cluster's one truth about which providers are up (design §5).

A plain class, run as one named Ray actor: each Ingress replica's `ReplicaRuntime`
(`serve_app/app/runtime.py`) creates it or finds it made by another. Every Ingress replica calls
`sync` in the background about ten times a second: it pushes the outcomes it saw, asks for the
probe of any half-open provider it has traffic for, and takes the snapshot home. No request ever
waits on this actor.

Exactly one probe per half-open provider, cluster-wide: the first replica that asks gets the lease
(visible to all as `probe_holder` in the snapshot). The lease lapses when the holder reports no
outcome for that provider within the probe timeout (default: the cooldown), and the next replica
that asks gets it.

State lives in memory only. An actor that restarts starts with every breaker closed, which costs
at most N failed calls per provider to learn again, and with no settings: it is created without
any, and the replicas push them again (each sync round, a `HealthClient` resends the providers.yaml
settings that the snapshot does not show, so a restarted actor has them back within a round).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from deployments.health.breaker import DEFAULT_SETTINGS, Breaker, BreakerSettings, Clock, State
from deployments.health.messages import HealthSnapshot, Outcome


class ProviderHealth:
    def __init__(
        self,
        settings: Mapping[str, tuple[int, float]] | None = None,
        *,
        default: BreakerSettings = DEFAULT_SETTINGS,
        probe_timeout_s: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._default = default
        self._probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._settings: dict[str, BreakerSettings] = {}
        self._breakers: dict[str, Breaker] = {}
        self.configure(settings or {})

    def configure(self, settings: Mapping[str, tuple[int, float]]) -> None:
        """Set each provider's (failure_threshold, cooldown_s); unnamed providers keep theirs."""
        for provider, (threshold, cooldown_s) in settings.items():
            self._settings[provider] = BreakerSettings(int(threshold), float(cooldown_s))
            self._breaker(provider).reconfigure(self._settings[provider])

    def report(self, replica_id: str, outcomes: Iterable[Outcome]) -> None:
        # Replicas report in batches that interleave; time order is what "consecutive" means.
        for outcome in sorted(outcomes, key=lambda o: o.at):
            self._breaker(outcome.provider).record(
                outcome.ok, outcome.error_kind, at=outcome.at, source=replica_id
            )

    def sync(
        self, replica_id: str, outcomes: Iterable[Outcome], probe_requests: Iterable[str]
    ) -> HealthSnapshot:
        """One round trip: take the replica's outcomes, grant probes it asks for, answer with the
        snapshot (which shows the grants)."""
        self.report(replica_id, outcomes)
        for provider in probe_requests:
            breaker = self._breaker(provider)
            if breaker.state is State.HALF_OPEN:
                breaker.try_acquire_probe(replica_id)  # no-op when someone holds the lease
        return self.snapshot()

    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(
            taken_at=self._clock(),
            providers={name: breaker.view() for name, breaker in self._breakers.items()},
        )

    def ping(self) -> str:
        return "ok"

    def _breaker(self, provider: str) -> Breaker:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = Breaker(
                self._settings.get(provider, self._default),
                clock=self._clock,
                probe_timeout_s=self._probe_timeout_s,
            )
            self._breakers[provider] = breaker
        return breaker
