"""Which of the app's deployments have lost every replica, as Serve reports it, for the router.

Ray Serve holds a call to a deployment that has no running replica until one comes back, and
raises nothing: without this, a call to a local model whose node died would wait out its
first-content deadline (the local provider's 120 s, sized for a cold start) before failing over.

A deployment counts as lost when it has no RUNNING replica and Serve says it is UNHEALTHY or
DEPLOY_FAILED: its replicas died, or cannot be placed or started. A deployment with no running
replica that is only starting (the first deploy: UPDATING; a scale-up from zero: UPSCALING) is not
lost: a call waits for it, as a cold start is the one way to get an answer from it. A deployment
with running replicas that are all busy is not lost either: Serve queues the call.

An Ingress replica asks `serve.status()` (Ray's public API), from a thread, once a second, but
only while there is a reason to: a call has waited on its deployment for more than
`SUSPECT_AFTER_S`, or a deployment is lost now (to see it come back). A healthy app's calls
answer well within that, so it never asks: `serve.status()` builds the whole cluster's status
(32-48 ms a call from the driver on the 2-core VM), and asked every second it raised
Switchyard's p99 in `benchmarks.overhead` (32 tokens) from 12 to 71 ms.

The request path reads a dictionary: the plan drops a lost model's candidate (`lost`), and a
call already waiting on it when it is found lost ends at once (`unless_lost`), so its chain
moves on to the backup. The first call to a model that has just lost its replicas therefore
fails over after 1-2 s, and later ones at once. When Serve cannot be asked, or answers
something else than expected, nothing counts as lost: the router behaves as it did without this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from deployments.background import BackgroundLoop
from deployments.errors import NoRunningReplica
from directory.schema import ModelProfile

logger = logging.getLogger(__name__)

T = TypeVar("T")
LOST_STATUSES = frozenset({"UNHEALTHY", "DEPLOY_FAILED"})
REFRESH_S = 1.0
# A call to a deployment still unanswered after this long makes the watch ask Serve. Above what
# a healthy call waits for its replica, below anything a caller would call a hang.
SUSPECT_AFTER_S = 1.0
# deployment name -> (its status, replica state -> count), for one application
Statuses = Mapping[str, tuple[str, Mapping[str, int]]]
ReadStatuses = Callable[[str], Statuses]


def lost_reason(status: str, replica_states: Mapping[str, int]) -> str | None:
    """Why a deployment cannot take a call now, or None when a call should go to it (and wait
    there, if it must, for a busy replica or a first start)."""
    if replica_states.get("RUNNING", 0) > 0 or status not in LOST_STATUSES:
        return None
    states = ", ".join(f"{count} {state}" for state, count in sorted(replica_states.items()))
    return f"no running replica (Serve: {status}; replicas: {states or 'none'})"


def read_serve_statuses(app: str) -> Statuses:
    """The app's deployments as `serve.status()` reports them (blocking: call it from a thread)."""
    from ray import serve

    application = serve.status().applications.get(app)
    if application is None:
        return {}
    return {
        name: (_text(overview.status), {_text(s): n for s, n in overview.replica_states.items()})
        for name, overview in application.deployments.items()
    }


def _text(value: Any) -> str:
    """An enum of Serve's (a `str` subclass) as its plain value."""
    return str(getattr(value, "value", value))


class ReplicaWatch:
    """The lost deployments of one application, refreshed in the background."""

    def __init__(
        self,
        app: str,
        *,
        read: ReadStatuses = read_serve_statuses,
        interval_s: float = REFRESH_S,
        suspect_after_s: float = SUSPECT_AFTER_S,
    ) -> None:
        self._app = app
        self._read = read
        self._interval_s = interval_s
        self._suspect_after_s = suspect_after_s
        self._lost: dict[str, str] = {}  # deployment -> why
        # The calls waiting on each deployment now: each a timeout scope to expire if it is lost,
        # with the event loop's time when it began waiting.
        self._waiting: dict[str, dict[asyncio.Timeout, float]] = {}
        self._loop = BackgroundLoop()
        self._failing = False

    def lost(self, deployment: str) -> str | None:
        """Why `deployment` cannot take a call now, or None. A dictionary read."""
        return self._lost.get(deployment)

    async def unless_lost(
        self, deployment: str, model: ModelProfile, call: Callable[[], Awaitable[T]]
    ) -> T:
        """`await call()` (a call to `model` on `deployment`), ended with `NoRunningReplica` if
        the deployment is lost (then `call` is never made) or found lost before it answers."""
        reason = self._lost.get(deployment)
        if reason is not None:
            raise _no_replica(model, reason)
        waiting = self._waiting.setdefault(deployment, {})
        scope = asyncio.timeout(None)
        try:
            async with scope:
                waiting[scope] = asyncio.get_running_loop().time()
                return await call()
        except TimeoutError:
            if scope.expired():  # our scope ran out: found lost (a deadline outside is not ours)
                reason = self._lost.get(deployment, "no running replica")
                raise _no_replica(model, reason) from None
            raise
        finally:
            waiting.pop(scope, None)

    def start(self) -> bool:
        """Start refreshing on the running event loop, once; False when not on a loop (yet)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop.start(self._run)
        return True

    async def aclose(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            if self._lost or self._a_call_waits_too_long():
                await self.refresh()
            await asyncio.sleep(self._interval_s)

    def _a_call_waits_too_long(self) -> bool:
        since = asyncio.get_running_loop().time() - self._suspect_after_s
        return any(
            started < since for waiting in self._waiting.values() for started in waiting.values()
        )

    async def refresh(self) -> None:
        """Ask Serve once and adopt its answer; when it cannot be asked, nothing is lost."""
        try:
            statuses = await asyncio.to_thread(self._read, self._app)
        except Exception as error:  # Serve's controller away, or an API that changed
            if not self._failing:
                logger.warning("cannot read Serve's status, so none counts as lost: %r", error)
            self._failing = True
            statuses = {}
        else:
            self._failing = False
        self.adopt(statuses)

    def adopt(self, statuses: Statuses) -> None:
        """Take `statuses` as the truth, and end the calls waiting on a deployment now lost."""
        lost: dict[str, str] = {}
        for name, (status, replica_states) in statuses.items():
            reason = lost_reason(status, replica_states)
            if reason is not None:
                lost[name] = reason
        for name in lost.keys() - self._lost.keys():
            logger.warning("deployment %s: %s; its calls fail over", name, lost[name])
        for name in self._lost.keys() - lost.keys():
            logger.info("deployment %s takes calls again", name)
        self._lost = lost
        if lost:
            now = asyncio.get_running_loop().time()
            for name in lost:
                for scope in self._waiting.get(name, ()):
                    if scope.when() is None:  # not yet told
                        scope.reschedule(now)


def _no_replica(model: ModelProfile, reason: str) -> NoRunningReplica:
    return NoRunningReplica(f"{model.id}: {reason}", provider=model.provider, model=model.id)
