"""A model whose deployment has lost every replica fails over at once (serve_app/app/replicas.py).

Serve holds a call to a deployment with no replica and raises nothing; these tests stand a
scripted backend in for it (a call to a held model waits until cancelled, as Serve's would) and
drive the watch with the statuses `serve.status()` would give, through the real gateway. The
same path on a real cluster, with a node killed, is tests/multinode.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from deployments.canonical import ChatRequest, ChatResult, Message
from deployments.errors import NoCandidates, NoRunningReplica
from directory.schema import ModelProfile
from serve_app.app.replicas import ReplicaWatch, Statuses, lost_reason
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends

LOST = ("UNHEALTHY", {"STARTING": 1})  # its node died: the replacement cannot be placed
HANG_GUARD_S = 60  # fails a regression that hangs; no outcome depends on it


@pytest.mark.parametrize(
    ("status", "replicas", "lost"),
    [
        ("HEALTHY", {"RUNNING": 2}, False),
        ("UNHEALTHY", {"STARTING": 1}, True),  # every replica gone, the new one not up
        ("DEPLOY_FAILED", {}, True),
        ("UNHEALTHY", {"RUNNING": 1, "STARTING": 1}, False),  # one left: Serve queues for it
        ("UPDATING", {"STARTING": 1}, False),  # the first deploy: a cold start, worth waiting for
        ("UPSCALING", {}, False),  # scaling up from zero: only a call can wake it
    ],
)
def test_only_a_deployment_with_no_running_replica_that_serve_calls_unhealthy_is_lost(
    status: str, replicas: dict[str, int], lost: bool
) -> None:
    reason = lost_reason(status, replicas)
    assert (reason is not None) == lost
    if reason is not None:
        assert reason.startswith("no running replica") and status in reason


def deployment(model: ModelProfile) -> str:
    return f"dep-{model.id.replace('/', '-')}"


@dataclass
class ServeLikeBackends(ScriptedBackends):
    """As `HandleBackends`: each model on a deployment of its own; a call to a model in `hang`
    waits like one Serve holds for want of a replica, until the watch ends it."""

    watch: ReplicaWatch = field(default_factory=lambda: ReplicaWatch("app"))

    def no_replica(self, model: ModelProfile) -> str | None:
        return self.watch.lost(deployment(model))

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        parent = super().complete
        return await self.watch.unless_lost(
            deployment(candidate.model), candidate.model, lambda: parent(candidate, request)
        )


def chat(name: str = "smart") -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content="hi")])
    return ChatCall(name=name, request=request, options=CallOptions())


def lose(model_id: str) -> Statuses:
    return {f"dep-{model_id.replace('/', '-')}": LOST}


async def test_a_call_held_by_a_model_found_lost_fails_over_and_no_breaker_counts_it() -> None:
    backends = ServeLikeBackends(hang={"alpha/a1"})
    health = RecordingHealth()
    gateway = Gateway(mini_directory(), backends, health, RecordingLedger())
    waiting = asyncio.ensure_future(gateway.complete(chat()))
    while not backends.calls:  # the call reached alpha/a1, which holds it
        await asyncio.sleep(0)
    assert not waiting.done()

    backends.watch.adopt(lose("alpha/a1"))
    async with asyncio.timeout(HANG_GUARD_S):  # without the watch it would wait for ever
        route = (await waiting).route

    assert route.model == "beta/b1"
    assert [(a.model, a.outcome, a.error_kind) for a in route.attempts] == [
        ("alpha/a1", "failed", "NoRunningReplica"),
        ("beta/b1", "ok", None),
    ]
    assert "no running replica (Serve: UNHEALTHY" in (route.attempts[0].message or "")
    assert health.outcomes == [("beta", True)]  # alpha's other models are not down


async def test_a_lost_model_is_planned_out_until_serve_runs_a_replica_again() -> None:
    backends = ServeLikeBackends()
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), RecordingLedger())
    backends.watch.adopt(lose("alpha/a1"))

    route = (await gateway.complete(chat())).route
    assert (route.model, len(route.attempts)) == ("beta/b1", 1)
    assert [(s.model, s.reason.split(" (")[0]) for s in route.skipped] == [
        ("alpha/a1", "no running replica")
    ]
    assert backends.calls == [("beta/b1", "b1")]  # nothing was sent to the lost model

    backends.watch.adopt({"dep-alpha-a1": ("HEALTHY", {"RUNNING": 1})})
    assert (await gateway.complete(chat())).route.model == "alpha/a1"


async def test_a_lost_model_with_no_other_candidate_is_a_503_naming_why() -> None:
    backends = ServeLikeBackends()
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), RecordingLedger())
    backends.watch.adopt(
        {deployment(m): LOST for m in mini_directory().models.values()}  # every one lost
    )
    with pytest.raises(NoCandidates) as caught:
        await gateway.complete(chat())
    assert caught.value.http_status == 503
    assert all(s.reason.startswith("no running replica") for s in caught.value.skipped)


async def test_a_model_starting_from_zero_is_waited_for() -> None:
    backends = ServeLikeBackends(hang={"alpha/a1"})
    gateway = Gateway(mini_directory(), backends, RecordingHealth(), RecordingLedger())
    waiting = asyncio.ensure_future(gateway.complete(chat()))
    while not backends.calls:
        await asyncio.sleep(0)

    backends.watch.adopt({"dep-alpha-a1": ("UPSCALING", {"STARTING": 1})})
    for _ in range(10):
        await asyncio.sleep(0)
    assert not waiting.done()  # still with alpha/a1, as a cold start should be
    assert backends.watch.lost("dep-alpha-a1") is None
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_another_deadline_around_the_wait_stays_a_timeout() -> None:
    watch = ReplicaWatch("app")
    model = mini_directory().models["alpha/a1"]
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await watch.unless_lost("dep-alpha-a1", model, lambda: never)


async def test_when_serve_cannot_be_asked_nothing_counts_as_lost() -> None:
    answers: list[Statuses | Exception] = [{"dep-alpha-a1": LOST}, RuntimeError("no controller")]

    def read(app: str) -> Statuses:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    watch = ReplicaWatch("app", read=read)
    await watch.refresh()
    assert watch.lost("dep-alpha-a1") is not None
    await watch.refresh()
    assert watch.lost("dep-alpha-a1") is None  # the router behaves as it did without the watch


async def test_serve_is_asked_only_while_a_call_waits_too_long_or_a_deployment_is_lost() -> None:
    """`serve.status()` is costly in the Ingress: a healthy app whose calls answer quickly
    never asks it; a call held past the suspicion time does, and a lost deployment keeps the
    watch asking until it is back."""
    model = mini_directory().models["alpha/a1"]
    asked: list[str] = []
    statuses: Statuses = {"dep-alpha-a1": LOST}

    def read(app: str) -> Statuses:
        asked.append(app)
        return statuses

    watch = ReplicaWatch("app", read=read, interval_s=0.01, suspect_after_s=0.2)
    assert watch.start()
    try:
        for _ in range(10):  # quick calls: answered long before they look suspicious
            await watch.unless_lost("dep-alpha-a1", model, lambda: asyncio.sleep(0.01))
        assert asked == []

        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(HANG_GUARD_S):
            with pytest.raises(NoRunningReplica):
                await watch.unless_lost("dep-alpha-a1", model, lambda: held)
        assert asked and watch.lost("dep-alpha-a1") is not None

        statuses = {"dep-alpha-a1": ("HEALTHY", {"RUNNING": 1})}  # a replica is back
        async with asyncio.timeout(HANG_GUARD_S):
            while watch.lost("dep-alpha-a1") is not None:
                await asyncio.sleep(0.01)
        settled = len(asked)
        await asyncio.sleep(0.1)  # ten rounds with nothing lost and no call waiting
        assert len(asked) == settled
    finally:
        await watch.aclose()
