"""Watching one deployment while the load runs: replicas, and requests ongoing and queued.

It runs in its own thread: Serve's status calls block (`ray.get`), and the load generator's event
loop must not wait on them.

Three request counts, each from where it is known:
- `in_flight`: calls the load generator has sent and not had answered — what callers wait on;
- `serve_requests`: the requests Serve's autoscaler sees for the deployment (ongoing at its
  replicas plus queued at the handles that call it), averaged over its look-back, read from the
  Serve controller (a private method of Ray's, `_get_total_num_requests_for_deployment_for_testing`;
  None when a Ray version lacks it);
- `queued`: how many of those a full deployment cannot take at once, i.e. beyond
  running replicas × `max_ongoing_requests` (an estimate from the two figures above).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serve_app.load.generator import LoadState


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds of wall time since the load started
    replicas: int  # running
    starting: int  # asked for, not running yet
    in_flight: int
    serve_requests: float | None
    queued: float | None
    answered: int
    failed: int


def replica_counts(app_name: str, deployment: str) -> tuple[int, int]:
    """(running, starting) replicas of `deployment`, from `serve.status()`."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None or deployment not in app.deployments:
        return 0, 0
    states = {str(k): v for k, v in app.deployments[deployment].replica_states.items()}
    running = states.get("RUNNING", 0)
    starting = sum(v for k, v in states.items() if k in ("STARTING", "PENDING_MIGRATION"))
    return running, starting


def serve_request_total(app_name: str, deployment: str) -> float | None:
    """The autoscaler's count of ongoing + queued requests for `deployment` (see the module)."""
    try:
        import ray
        from ray.serve._private.common import DeploymentID
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        if client is None:
            return None
        controller: Any = client._controller
        ref = controller._get_total_num_requests_for_deployment_for_testing.remote(
            DeploymentID(name=deployment, app_name=app_name)
        )
        return float(ray.get(ref, timeout=5))
    except Exception:  # a private API: a Ray without it leaves the figure out, not the run
        return None


class Sampler:
    def __init__(
        self,
        state: LoadState,
        *,
        app_name: str,
        deployment: str,
        max_ongoing_requests: int,
        interval_s: float,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> None:
        self.samples: list[Sample] = []
        self._state = state
        self._app, self._deployment = app_name, deployment
        self._max_ongoing = max_ongoing_requests
        self._interval_s = interval_s
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="switchyard-tune-sampler")
        self._t0 = time.perf_counter()

    def start(self) -> Sampler:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        self._take()  # the state at the end
        return self.samples

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._take()

    def _take(self) -> None:
        t = time.perf_counter() - self._t0
        running, starting = replica_counts(self._app, self._deployment)
        total = serve_request_total(self._app, self._deployment)
        queued = None if total is None else max(0.0, total - running * self._max_ongoing)
        sample = Sample(
            t_s=t,
            replicas=running,
            starting=starting,
            in_flight=self._state.in_flight,
            serve_requests=total,
            queued=queued,
            answered=self._state.answered,
            failed=self._state.failed,
        )
        self.samples.append(sample)
        if self._on_sample is not None:
            self._on_sample(sample)
