"""The app builder: validated arguments in, the bound Ray Serve application out.

One function serves Python (`build_app(AppArgs(...))`), `serve run`/`serve deploy` configs
(`import_path: serve_app.app.builder:app_builder`, whose `args` are validated into
`AppArgs`) and the CLI.
Deployment options (replicas, CPUs, concurrency, autoscaling) come from these arguments, never from
decorators, so the deployment classes stay plain and testable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.deployment import Application, Deployment

from deployments.cloud.proxy import CloudProxy
from directory.loader import load_directory
from directory.schema import Directory, ModelProfile
from serve_app.allowances.tenants import TenantConfig, Tenants
from serve_app.surfaces.ingress import Ingress
from serve_app.surfaces.limits import RequestLimits

APP_NAME = "switchyard"
INGRESS_NAME = "ingress"


# Ray Serve's per-process switches, given to every Ingress and CloudProxy replica (its runtime_env,
# so they hold wherever the app is deployed). Measured by benchmarks/settings.py, see
# BENCHMARKS.md: handle calls from the Ingress to a CloudProxy go over gRPC instead of Ray actor
# calls, and each replica runs its own code, and its handles' router, on the replica's event loop
# instead of handing every request to another thread's loop. That needs code that never blocks
# its loop, which holds for Switchyard's replicas: every call in them is awaited. The last two
# are the rest of Ray's throughput-optimized bundle (`RAY_SERVE_THROUGHPUT_OPTIMIZED`; its GC
# freeze at start-up is on by default), taken per replica rather than for the whole cluster (where
# it breaks blocking handle calls from a plain script): Serve's per-request access log is buffered
# and written to the replica's log file only, not copied to stderr. Measured in BENCHMARKS.md.
FAST_PATH_ENV = {
    "RAY_SERVE_USE_GRPC_BY_DEFAULT": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000",
    "RAY_SERVE_LOG_TO_STDERR": "0",
}


class DeploymentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_replicas: int | Literal["auto"] = 1
    num_cpus: float = Field(default=0.1, ge=0)  # I/O-bound: many fit on a core
    max_ongoing_requests: int = Field(default=512, ge=1)
    autoscaling_config: dict[str, Any] | None = None
    # More environment for each replica's process, over FAST_PATH_ENV (a key set here wins).
    env_vars: dict[str, str] = Field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        env = {**FAST_PATH_ENV, **self.env_vars}
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "runtime_env": {"env_vars": env}}
        options: dict[str, Any] = {
            "ray_actor_options": actor,
            "max_ongoing_requests": self.max_ongoing_requests,
        }
        if self.autoscaling_config is not None:
            options["autoscaling_config"] = self.autoscaling_config
        else:
            options["num_replicas"] = self.num_replicas
        return options


class LocalModelOverride(BaseModel):
    """Serve a local model differently from its directory entry: other weights (the tiny CPU
    model in development), on a CPU, with other scaling."""

    model_config = ConfigDict(extra="forbid")

    weights: str | None = None  # e.g. "builtin:tiny-llama"; None keeps serving.weights
    on_cpu: bool = False  # no GPUs: placement from the serving block is dropped
    notice: str | None = None  # said in every answer the model gives
    engine: dict[str, Any] = Field(default_factory=dict)  # vLLM EngineOptions
    autoscaling: dict[str, Any] | None = None  # replaces serving.autoscaling


# What `switchyard demo` and the CPU tests serve when the local extra is installed: the workhorse
# slot answered by a tiny random-weight Llama (labelled as such), and the real all-MiniLM-L6-v2
# behind `embed`.
TINY_NOTICE = (
    "development stand-in: a tiny Llama with random weights serves this model on CPU; "
    "its text is gibberish"
)
CPU_ENGINE = {"max_model_len": 1024, "enforce_eager": True, "max_num_seqs": 32}
CPU_SCALING = {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 16}


def cpu_dev_overrides(directory: Directory) -> dict[str, LocalModelOverride]:
    return {
        directory.resolved["workhorse"]: LocalModelOverride(
            weights="builtin:tiny-llama",
            on_cpu=True,
            notice=TINY_NOTICE,
            engine=CPU_ENGINE,
            autoscaling=CPU_SCALING,
        ),
        directory.resolved["embed"]: LocalModelOverride(
            weights="builtin:all-minilm-l6-v2",
            on_cpu=True,
            engine={"enforce_eager": True},
            autoscaling=CPU_SCALING,
        ),
    }


class AppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory_path: str | None = None  # None: the shipped directory
    # Cloud providers to proxy. None: every cloud provider whose API key is set (all of them
    # when `sandbox_urls` is given).
    providers: list[str] | None = None
    # Sandbox mode: adapter kind -> base URL of the sandbox that speaks its protocol.
    sandbox_urls: dict[str, str] | None = None
    ledger_path: str = "~/.switchyard/ledger.sqlite"
    local_models: list[str] = Field(default_factory=list)  # local model ids to deploy
    local_overrides: dict[str, LocalModelOverride] = Field(default_factory=dict)
    ingress: DeploymentSettings = Field(default_factory=lambda: DeploymentSettings(num_replicas=1))
    cloud_proxy: DeploymentSettings = Field(default_factory=DeploymentSettings)
    namespace: str = "switchyard"
    health_sync_s: float = Field(default=0.1, gt=0)
    ledger_flush_s: float = Field(default=0.2, gt=0)
    allowance_sync_s: float = Field(default=0.1, gt=0)  # free-tier and budget lease rounds
    # Budgets per tenant and agent (serve_app/allowances/tenants.py). They travel in the Ingress's
    # user_config beside the directory, so a changed budget is a hot reload, not a restart.
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    # What a request may be (body size, depth, messages); also a hot reload (user_config).
    limits: RequestLimits = Field(default_factory=RequestLimits)


def user_config(args: AppArgs, directory: Directory) -> dict[str, Any]:
    """What the Ingress's `reconfigure` gets: the directory, the tenants config, the limits.

    Raises ValueError when a tenant's downgrade target is not in the directory."""
    tenants = Tenants(args.tenants)
    problems = tenants.check(directory)
    if problems:
        raise ValueError("; ".join(problems))
    return {
        "directory": directory.to_dict(),
        "tenants": tenants.model_dump(mode="json"),
        "limits": args.limits.model_dump(),
    }


def _deployment(cls: type, name: str, options: dict[str, Any]) -> Deployment:
    """`serve.deployment` applied here, not as a decorator, so the classes stay plain."""
    # mypy picks the decorator-factory overload of serve.deployment for a bare class.
    deployment: Deployment = serve.deployment(cls)  # type: ignore[assignment]
    return deployment.options(name=name, **options)


SANDBOX_KEY = "sandbox-key-not-a-secret"  # the sandbox providers accept any key


def cloud_providers_in_use(directory: Directory, args: AppArgs) -> tuple[list[str], list[str]]:
    """(providers to proxy, providers skipped for want of an API key)."""
    cloud = [p for p in directory.providers.values() if p.adapter != "vllm"]
    if args.providers is not None:
        cloud = [p for p in cloud if p.id in args.providers]
    if args.sandbox_urls is not None:
        return [p.id for p in cloud], []
    with_key = [p.id for p in cloud if p.api_key_env and os.environ.get(p.api_key_env)]
    return with_key, [p.id for p in cloud if p.id not in with_key]


def _cloud_proxy(directory: Directory, provider_id: str, args: AppArgs) -> Application:
    provider = directory.providers[provider_id]
    base_url, api_key = provider.base_url, None
    if args.sandbox_urls is not None:
        base_url, api_key = args.sandbox_urls[provider.adapter], SANDBOX_KEY
    deployment = _deployment(CloudProxy, f"cloud-{provider_id}", args.cloud_proxy.options())
    return deployment.bind(
        provider_id=provider_id,
        adapter_kind=provider.adapter,
        base_url=base_url,
        api_key_env=provider.api_key_env,
        timeouts=provider.timeouts.model_dump(),
        api_key=api_key,
    )


def _local_model(model: ModelProfile, args: AppArgs) -> Application:
    # Imported here: the local-model code needs the vLLM extra only when it runs.
    from deployments.local.model import LocalModel
    from deployments.local.options import (
        local_deployment_options,
        local_engine_options,
        local_runtime_env,
    )

    serving = model.serving
    if serving is None:  # the directory's checks give every local model a serving block
        raise ValueError(f"{model.id} has no serving block")
    override = args.local_overrides.get(model.id, LocalModelOverride())
    block = serving.model_dump()
    if override.on_cpu:
        block.update(num_gpus=0, tensor_parallel_size=1, accelerator_type=None, num_cpus=0.5)
    if override.autoscaling is not None:
        block["autoscaling"] = override.autoscaling
    options = local_deployment_options(block)
    options["ray_actor_options"]["runtime_env"] = local_runtime_env(on_gpu=not override.on_cpu)
    engine = local_engine_options(block, **override.engine)
    name = f"local-{model.id.split('/', 1)[1]}"
    return _deployment(LocalModel, name, options).bind(
        model_id=model.id,
        weights=override.weights or serving.weights,
        kind=model.kind,
        engine=engine.model_dump(),
    )


def build_app(args: AppArgs) -> Application:
    directory = load_directory(args.directory_path)
    proxied, _skipped = cloud_providers_in_use(directory, args)
    cloud = {pid: _cloud_proxy(directory, pid, args) for pid in proxied}
    local = {mid: _local_model(directory.models[mid], args) for mid in args.local_models}
    runtime = {
        "namespace": args.namespace,
        "ledger_path": str(Path(args.ledger_path).expanduser()),
        "health_sync_s": args.health_sync_s,
        "ledger_flush_s": args.ledger_flush_s,
        "allowance_sync_s": args.allowance_sync_s,
        "notices": {mid: o.notice for mid, o in args.local_overrides.items() if o.notice},
    }
    options = {"user_config": user_config(args, directory), **args.ingress.options()}
    return _deployment(Ingress, INGRESS_NAME, options).bind(cloud, local, runtime)


def app_builder(args: dict[str, Any]) -> Application:
    """For `serve run` / `serve deploy`: `import_path: serve_app.app.builder:app_builder`."""
    return build_app(AppArgs.model_validate(args))
