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

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray import serve
from ray.serve.deployment import Application, Deployment

from deployments.cloud.proxy import CloudProxy
from deployments.named_actor import HEAD_NODE_RESOURCE
from directory.loader import load_directory
from directory.schema import Directory, ModelProfile
from serve_app.allowances.tenants import TenantConfig, Tenants
from serve_app.identity.keys import key_hash
from serve_app.surfaces.ingress import Ingress
from serve_app.surfaces.limits import RequestLimits

APP_NAME = "switchyard"
INGRESS_NAME = "ingress"
ADMIN_KEY_ENV = "SWITCHYARD_ADMIN_KEY"
ADMIN_KEY_MIN_CHARS = 24  # its SHA-256 is shown by `serve status`: it must not be guessable


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
    # A replica told to stop (scale-down, redeploy, `serve shutdown`, SIGTERM through Serve) takes
    # no new calls, lets the ones in flight finish, then runs `__del__` (the Ingress sends its
    # ledger records). Serve kills it after graceful_shutdown_timeout_s whatever it is doing:
    # 60 s lets a long answer stream to its end (Serve's default is 20 s); a stream longer than
    # that is cut, and records the kill stops from being sent stay in the replica's journal for
    # the next replica on the node. It checks every wait_loop_s whether the calls are done
    # (Serve's default 2 s): 0.5 s, so an idle replica goes at once.
    graceful_shutdown_timeout_s: float = Field(default=60.0, gt=0)
    graceful_shutdown_wait_loop_s: float = Field(default=0.5, gt=0)
    # On the head node, as cluster.yaml lays the cluster out (a sliver of Ray's
    # `node:__internal_head__`). Serve spreads replicas over the nodes otherwise, and measured on a
    # simulated cluster (tests/multinode) it put a cloud proxy on a GPU worker: there it takes that
    # worker's CPUs and keeps an idle GPU node from being scaled down. False: any node.
    on_head: bool = True

    def options(self) -> dict[str, Any]:
        env = {**FAST_PATH_ENV, **self.env_vars}
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "runtime_env": {"env_vars": env}}
        if self.on_head:
            actor["resources"] = {HEAD_NODE_RESOURCE: 0.001}
        options: dict[str, Any] = {
            "ray_actor_options": actor,
            "max_ongoing_requests": self.max_ongoing_requests,
            "graceful_shutdown_timeout_s": self.graceful_shutdown_timeout_s,
            "graceful_shutdown_wait_loop_s": self.graceful_shutdown_wait_loop_s,
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
    on_cpu: bool = False  # the CPU build of vLLM; placement from the serving block is dropped
    # With on_cpu: keep the serving block's placement (GPUs, accelerator type, tensor-parallel
    # bundles) all the same, so that on a simulated cluster, whose workers advertise fake `GPU`
    # and `accelerator_type:*` resources, Ray places each replica where it would go on the real
    # one (tests/multinode). The replica is handed no GPU it could try to use
    # (SIMULATED_GPU_ENV) and runs one engine without shards: the bundles stay reserved, unused.
    keep_placement: bool = False
    notice: str | None = None  # said in every answer the model gives
    engine: dict[str, Any] = Field(default_factory=dict)  # vLLM EngineOptions
    autoscaling: dict[str, Any] | None = None  # replaces serving.autoscaling

    @model_validator(mode="after")
    def _placement_kept_only_on_cpu(self) -> LocalModelOverride:
        if self.keep_placement and not self.on_cpu:
            raise ValueError("keep_placement applies to the CPU engine only (on_cpu: true)")
        return self


# A replica that holds a fake GPU (keep_placement) sees none: Ray would set CUDA_VISIBLE_DEVICES to
# the GPU ids it assigned unless told not to, and the CPU engine must not reach for a device.
SIMULATED_GPU_ENV = {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": ""}


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
    # Keys are checked unless this is False (`--no-auth`). The admin key's SHA-256: filled from
    # SWITCHYARD_ADMIN_KEY by whoever deploys (`with_admin_key`), or read from that variable where
    # the app is built (a KubeRay head has it from a Secret). The key itself never travels in the
    # app's args or user_config, which `serve status` shows; the hash reaches the Ingress as a
    # constructor argument.
    auth: bool = True
    admin_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class AdminKeyMissing(ValueError):
    """Auth is on and no admin key was given; the message says what to do."""


def with_admin_key(args: AppArgs) -> AppArgs:
    """`args` with the admin key's hash, from SWITCHYARD_ADMIN_KEY when it has none yet.

    AdminKeyMissing when auth is on and there is neither, or the key is too short to be safe."""
    if not args.auth or args.admin_key_sha256 is not None:
        return args
    key = os.environ.get(ADMIN_KEY_ENV, "")
    if len(key) < ADMIN_KEY_MIN_CHARS:
        problem = "is not set" if not key else f"is shorter than {ADMIN_KEY_MIN_CHARS} characters"
        raise AdminKeyMissing(
            f"auth is on and {ADMIN_KEY_ENV} {problem}: set it to a long random secret, e.g. "
            f"`export {ADMIN_KEY_ENV}=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')`, "
            "or turn auth off with --no-auth (a laptop only)"
        )
    return args.model_copy(update={"admin_key_sha256": key_hash(key)})


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
    if override.on_cpu and not override.keep_placement:
        block.update(num_gpus=0, tensor_parallel_size=1, accelerator_type=None, num_cpus=0.5)
    if override.autoscaling is not None:
        block["autoscaling"] = override.autoscaling
    options = local_deployment_options(block)
    runtime_env = local_runtime_env(on_gpu=not override.on_cpu)
    engine_overrides = override.engine
    if override.keep_placement:
        runtime_env["env_vars"].update(SIMULATED_GPU_ENV)
        engine_overrides = {"tensor_parallel_size": 1, **override.engine}
    options["ray_actor_options"]["runtime_env"] = runtime_env
    engine = local_engine_options(block, **engine_overrides)
    name = f"local-{model.id.split('/', 1)[1]}"
    return _deployment(LocalModel, name, options).bind(
        model_id=model.id,
        weights=override.weights or serving.weights,
        kind=model.kind,
        engine=engine.model_dump(),
    )


def build_app(args: AppArgs) -> Application:
    """AdminKeyMissing when auth is on and neither the args nor the environment hold the admin
    key (a deploy then fails with that message)."""
    args = with_admin_key(args)
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
    auth = {"enabled": args.auth, "admin_key_sha256": args.admin_key_sha256}
    return _deployment(Ingress, INGRESS_NAME, options).bind(cloud, local, runtime, auth)


def app_builder(args: dict[str, Any]) -> Application:
    """For `serve run` / `serve deploy`: `import_path: serve_app.app.builder:app_builder`."""
    return build_app(AppArgs.model_validate(args))
