"""Circuit breakers for the providers (design §5).

- `Breaker`: one provider's state machine, pure, with an injected clock.
- `ProviderHealth`: the cluster-wide truth, one named Ray actor (the first Ingress replica's
  `ReplicaRuntime` creates it; the others find it).
- `HealthClient`: inside each Ingress replica. Per candidate, the planner asks
  `is_available(provider)` or, when that is False, `could_probe(provider)`: questions that take
  nothing. As an attempt at a provider that is not closed opens, `try_acquire_probe(provider)`
  takes its one probe (True: send this request as the probe), and `release_probe` gives it back if
  the attempt does not start after all. After every attempt the Ingress calls
  `record(provider, ok, error)`. `start()` runs the background sync with the actor.
"""

from deployments.health.actor import ProviderHealth
from deployments.health.breaker import (
    NEUTRAL_ERRORS,
    Breaker,
    BreakerSettings,
    BreakerView,
    State,
    error_kind,
    settings_for,
)
from deployments.health.client import HealthClient, ProviderStatus
from deployments.health.messages import HealthSnapshot, Outcome

__all__ = [
    "NEUTRAL_ERRORS",
    "Breaker",
    "BreakerSettings",
    "BreakerView",
    "HealthClient",
    "HealthSnapshot",
    "Outcome",
    "ProviderHealth",
    "ProviderStatus",
    "State",
    "error_kind",
    "settings_for",
]
