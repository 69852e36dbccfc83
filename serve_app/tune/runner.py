"""Running each autoscaling candidate against the real app, offline, and recording what happened.

Once: the sandbox providers (each cloud model scripted with its directory latency profile: TTFT
and output tokens/s) and a local Ray cluster. Then per candidate: the Switchyard app deployed
afresh with the candidate's autoscaling on the deployment under test (a local model runs as its
CPU stand-in), the load sent open-loop while a sampler watches the deployment, and the app
deleted, so every candidate starts from the same state.

`speedup` compresses time: the load's time axis, the candidate's delays and look-back, and the
replicas' and handles' autoscaling-metric push intervals (10 s in Serve) are divided by it. What
it cannot compress, and so distorts (see DISTORTIONS): replica start-up, each call's own latency,
and Serve's control loop (0.1 s).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from directory.loader import load_directory
from directory.schema import Directory
from serve_app.app.builder import (
    APP_NAME,
    CPU_ENGINE,
    TINY_NOTICE,
    AppArgs,
    DeploymentSettings,
    LocalModelOverride,
    build_app,
    cpu_dev_overrides,
)
from serve_app.load.generator import LoadState, LoadTarget, Outcome, run_load
from serve_app.load.shapes import Shape, compressed, schedule
from serve_app.tune.candidates import (
    Candidate,
    CandidatesError,
    TuneSpec,
    TuneTarget,
    compressed_autoscaling,
    resolve_target,
)
from serve_app.tune.results import CandidateResult, result_of
from serve_app.tune.sampler import Sample, Sampler

DISTORTIONS = (
    "--speedup divides the load's time axis, the candidates' delays and look-back and Serve's "
    "metric push intervals; it does not compress replica start-up (a replica that takes 30 s to "
    "start looks speedup× slower to react than it would be), each call's own latency (kept real "
    "so that concurrency, rate × latency, stays that of the real load; a call spans speedup× "
    "more of the shape), or Serve's 0.1 s control loop. Replica-hours are counted on the load's "
    "clock over the load's span only (scale-down after it is not watched)."
)
PUSH_INTERVAL_ENV = (
    "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S",
    "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S",
)
_SERVE_PUSH_INTERVAL_S = 10.0
# Up to 60 s of graceful stop per replica plus the engine's own shutdown, with room to spare.
_APP_DELETE_TIMEOUT_S = 240.0
# What a sandbox answer is long before the request's max_tokens cuts it: max_tokens decides.
_SANDBOX_ANSWER_TOKENS = 8192


@dataclass(frozen=True)
class TuneRun:
    """What `run_tune` needs besides the candidates."""

    shape: Shape  # on its own clock; compressed here
    speedup: float = 1.0
    model: str | None = None  # what the load calls when the target is the ingress or a provider
    stream: bool = True
    arrivals: Literal["poisson", "even"] = "poisson"
    seed: int = 0
    sample_s: float = 0.5
    directory_path: str | None = None


@dataclass(frozen=True)
class CandidateRun:
    candidate: Candidate
    deployed_autoscaling: dict[str, Any]
    max_ongoing_requests: int
    outcomes: list[Outcome]
    samples: list[Sample]
    result: CandidateResult


ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[LoadState], None]]]


@contextmanager
def _no_progress(total: int, label: str) -> Iterator[Callable[[LoadState], None]]:
    yield lambda state: None


def run_tune(
    spec: TuneSpec,
    run: TuneRun,
    *,
    progress: ProgressFactory = _no_progress,
    say: Callable[[str], None] = print,
) -> list[CandidateRun]:
    from ray import serve

    from deployments.sandbox.server import start_sandboxes
    from serve_app.dev.local_cluster import start_local_cluster, stop_local_cluster

    directory = load_directory(run.directory_path)
    target = resolve_target(directory, spec.deployment)
    model = target.model or run.model
    if model is None:
        raise CandidatesError(f"tuning {spec.deployment}: say which model the load calls (--model)")
    if target.kind == "local":
        local_chat = directory.models[target.model or ""].kind == "chat"
        if not local_chat:
            raise CandidatesError(f"{target.model}: only chat models can be load-tested")
    if run.speedup <= 0:
        raise CandidatesError(f"speedup must be above 0, not {run.speedup}")
    arrivals = schedule(compressed(run.shape, run.speedup), arrivals=run.arrivals, seed=run.seed)
    for name in PUSH_INTERVAL_ENV:  # read by replicas and handles, which inherit the driver's env
        os.environ.setdefault(name, str(max(0.1, _SERVE_PUSH_INTERVAL_S / run.speedup)))

    runs: list[CandidateRun] = []
    with start_sandboxes() as sandboxes:
        _script_latency_profiles(directory, sandboxes.script)
        url = start_local_cluster(http_port=None)
        try:
            base = AppArgs(
                directory_path=run.directory_path,
                providers=_providers(directory, target, model),
                sandbox_urls={
                    kind: sandboxes.url(kind)
                    for kind in ("openai", "openai-compatible", "anthropic", "google")
                },
                ledger_path=str(Path(tempfile.mkdtemp(prefix="switchyard-tune-")) / "ledger.db"),
                # A private app on loopback that lives for one candidate: keys are not what is
                # tuned, and checking them would only add a constant to every call.
                auth=False,
            )
            for index, candidate in enumerate(spec.candidates, start=1):
                deployed = compressed_autoscaling(candidate.autoscaling, run.speedup)
                args = _with_candidate(base, directory, target, candidate, deployed)
                say(f"[{index}/{len(spec.candidates)}] {candidate.name}: deploying {deployed}")
                serve.run(build_app(args), name=APP_NAME, route_prefix="/")
                _warm_up(url, model)
                max_ongoing = _max_ongoing(APP_NAME, target.deployment)
                state = LoadState(scheduled=len(arrivals))
                sampler = Sampler(
                    state,
                    app_name=APP_NAME,
                    deployment=target.deployment,
                    max_ongoing_requests=max_ongoing,
                    interval_s=run.sample_s,
                ).start()
                load = LoadTarget(url=url, model=model, stream=run.stream)
                label = f"{candidate.name} ({index}/{len(spec.candidates)})"
                with progress(len(arrivals), label) as on_outcome:
                    _run_in_own_loop(run_load(load, arrivals, state=state, on_outcome=on_outcome))
                samples = sampler.stop()
                _delete_app(APP_NAME)
                result = result_of(
                    candidate.name,
                    state.outcomes,
                    samples,
                    speedup=run.speedup,
                    gpu_hour_usd=target.gpu_hour_usd,
                )
                runs.append(
                    CandidateRun(candidate, deployed, max_ongoing, state.outcomes, samples, result)
                )
        finally:
            stop_local_cluster()
    return runs


def _delete_app(name: str, timeout_s: float = _APP_DELETE_TIMEOUT_S) -> None:
    """Delete the candidate's app and wait until it is gone, for longer than `serve.delete`'s own
    fixed 60 s: each replica may take up to its graceful_shutdown_timeout_s (60 s) to let calls
    the load gave up on finish, and a LocalModel's engine then needs seconds to stop. In CI on
    2 cores that sum once passed 60 s and failed a run with every candidate's figures in hand."""
    from ray import serve

    serve.delete(name, _blocking=False)
    deadline = time.monotonic() + timeout_s
    while name in serve.status().applications:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app {name!r} was still being deleted after {timeout_s:.0f} s")
        time.sleep(0.5)


def _run_in_own_loop(coroutine: Coroutine[Any, Any, LoadState]) -> LoadState:
    """Run the load on an event loop of its own, in a thread: the caller may be in a running
    loop (a notebook's kernel), where asyncio.run cannot be called."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-load") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _script_latency_profiles(directory: Directory, script: Callable[..., None]) -> None:
    """Each cloud model's sandbox answers at its directory TTFT and output pace."""
    for model in directory.models.values():
        adapter = directory.providers[model.provider].adapter
        if adapter == "vllm" or model.kind != "chat":
            continue
        script(
            adapter,
            model.provider_model,
            ttft_ms=model.latency.ttft_ms,
            tokens_per_s=model.latency.output_tokens_per_s,
            output_tokens=_SANDBOX_ANSWER_TOKENS,
        )


def _providers(directory: Directory, target: TuneTarget, model: str) -> list[str]:
    """The cloud providers the load's chain can reach (none for a local model's chain)."""
    chain = directory.chain(model)
    return sorted(
        {m.provider for m in chain if directory.providers[m.provider].adapter != "vllm"}
        | ({target.provider} if target.provider else set())
    )


def _with_candidate(
    base: AppArgs,
    directory: Directory,
    target: TuneTarget,
    candidate: Candidate,
    autoscaling: dict[str, Any],
) -> AppArgs:
    if target.kind == "local":
        if candidate.max_ongoing_requests is not None:
            raise CandidatesError(
                f"{candidate.name}: max_ongoing_requests is not tunable for a local model yet "
                "(it follows target_ongoing_requests)"
            )
        model_id = target.model or ""
        stand_in = cpu_dev_overrides(directory).get(model_id) or LocalModelOverride(
            weights="builtin:tiny-llama", on_cpu=True, notice=TINY_NOTICE, engine=CPU_ENGINE
        )
        override = stand_in.model_copy(update={"autoscaling": autoscaling})
        return base.model_copy(
            update={"local_models": [model_id], "local_overrides": {model_id: override}}
        )
    settings = DeploymentSettings(
        autoscaling_config=autoscaling,
        max_ongoing_requests=candidate.max_ongoing_requests
        or DeploymentSettings().max_ongoing_requests,
    )
    field = "ingress" if target.kind == "ingress" else "cloud_proxy"
    return base.model_copy(update={field: settings})


def _warm_up(url: str, model: str) -> None:
    """One call before the clock starts, so the first measured one does not pay for set-up."""
    httpx.post(
        f"{url}/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": "warm up"}],
            "max_tokens": 4,
        },
        timeout=300,
    )


def _max_ongoing(app_name: str, deployment: str) -> int:
    from serve_app.dev.local_cluster import serve_details

    app = serve_details()["applications"][app_name]
    return int(app["deployments"][deployment]["deployment_config"]["max_ongoing_requests"])
