"""Planning asks; an attempt takes. A half-open provider's one probe is taken only by the attempt
that is sent to it, so a backup that is never tried leaves the probe for a call that needs it.

Two Ingress replicas share one in-process ProviderHealth (the cluster's breakers) through their
own HealthClients, with one fake clock; a round with the actor runs where a test calls it.
"""

from __future__ import annotations

import pytest

from deployments.canonical import ChatRequest, Message
from deployments.errors import NoCandidates, ProviderServerError
from deployments.health import HealthClient, HealthSnapshot, Outcome, ProviderHealth, State
from serve_app.routing.call import CallOptions, ChatCall, route_of
from serve_app.routing.gateway import Gateway
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingLedger, ScriptedBackends, server_error

COOLDOWN_S = 5.0  # the mini directory's


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def smart_call() -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content="hi there")])
    return ChatCall(name="smart", request=request, options=CallOptions())


class Cluster:
    """The ProviderHealth actor, and the replicas that sync with it."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        settings = {p: (3, COOLDOWN_S) for p in ("alpha", "beta", "local")}
        self.health = ProviderHealth(settings, clock=self.clock)

    def replica(self, name: str) -> HealthClient:
        async def sync(replica: str, outcomes: list[Outcome], probes: list[str]) -> HealthSnapshot:
            return self.health.sync(replica, outcomes, probes)

        return HealthClient(name, sync, clock=self.clock)

    def probe_holder(self, provider: str) -> str | None:
        return self.health.sync("observer", [], []).providers[provider].probe_holder


async def rounds(*replicas: HealthClient) -> None:
    for _ in range(2):
        for replica in replicas:
            await replica.sync_once()


async def half_open_beta(cluster: Cluster, *replicas: HealthClient) -> None:
    first = replicas[0]
    for _ in range(3):
        cluster.clock.now += 0.01
        first.record("beta", False, ProviderServerError("500", provider="beta"))
    await rounds(*replicas)
    cluster.clock.now += COOLDOWN_S + 0.1
    await rounds(*replicas)
    assert all(r.states()["beta"].state is State.HALF_OPEN for r in replicas)


async def test_a_backup_never_tried_leaves_the_probe_for_the_call_that_needs_it() -> None:
    cluster = Cluster()
    a, b = cluster.replica("a"), cluster.replica("b")
    await half_open_beta(cluster, a, b)
    # On replica a the primary serves: beta/b1, half-open, is only the backup.
    on_a = Gateway(mini_directory(), ScriptedBackends(), a, RecordingLedger())
    for _ in range(3):
        assert (await on_a.complete(smart_call())).route.model == "alpha/a1"
    await rounds(a, b)
    assert cluster.probe_holder("beta") is None

    # On replica b the primary fails: this call needs beta's probe. The first attempt at beta
    # asks the cluster for it; once granted, the next such call probes beta, and it recovers.
    failing = ScriptedBackends(failures={"alpha/a1": [server_error("alpha")] * 2})
    on_b = Gateway(mini_directory(), failing, b, RecordingLedger())
    first = (await on_b.complete(smart_call())).route
    assert first.model == "local/l1"
    assert ("beta/b1", "provider beta: half-open, its one probe is not ours yet") in [
        (s.model, s.reason) for s in first.skipped
    ]
    await rounds(a, b)
    assert cluster.probe_holder("beta") == "b"
    second = (await on_b.complete(smart_call())).route
    assert [(at.model, at.outcome) for at in second.attempts] == [
        ("alpha/a1", "failed"),
        ("beta/b1", "ok"),
    ]
    await rounds(a, b)
    assert a.states()["beta"].state is State.CLOSED


async def test_a_probe_taken_for_an_attempt_that_cannot_start_is_given_back() -> None:
    """The plan keeps a half-open free-tier model; its attempt opens with the probe granted but
    the free tier ran out meanwhile: the attempt is skipped and the probe stays this replica's."""
    cluster = Cluster()
    a = cluster.replica("a")
    await half_open_beta(cluster, a)
    assert not a.try_acquire_probe("beta")  # asks the cluster
    await rounds(a)
    assert a.try_acquire_probe("beta")
    a.release_probe("beta")  # the attempt did not start after all
    assert a.could_probe("beta")
    assert a.try_acquire_probe("beta")  # the next attempt here gets it
    assert not a.try_acquire_probe("beta")  # and only one


async def test_no_candidate_admitted_is_a_503_that_says_why() -> None:
    cluster = Cluster()
    a = cluster.replica("a")
    await half_open_beta(cluster, a)
    directory = mini_directory(**{"beta/b1": {"backup": "local/l1", "secondary": "local/l2"}})
    backends = ScriptedBackends(undeployed={"local/l1", "local/l2"})
    gateway = Gateway(directory, backends, a, RecordingLedger())
    request = ChatRequest(model="", messages=[Message(role="user", content="hi")])
    with pytest.raises(NoCandidates) as caught:
        await gateway.complete(ChatCall(name="beta/b1", request=request))
    reasons = [(s.model, s.reason) for s in caught.value.skipped]
    assert ("beta/b1", "provider beta: half-open, its one probe is not ours yet") in reasons
    route = route_of(caught.value)
    assert route is not None and route.attempts == []
    assert backends.calls == []
