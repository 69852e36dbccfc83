"""Serve options for a LocalModel deployment, from the directory's `serving` block.

The app builder does, per local model:

    serve.deployment(LocalModel, name=...,
                     **local_deployment_options(profile.serving)).options(
        ray_actor_options={..., "runtime_env": local_runtime_env(on_gpu)})

Placement: a tensor-parallel size of 1 runs the whole engine on the replica's own GPU(s). Above 1,
the replica holds no GPU: it reserves one placement-group bundle per shard (STRICT_PACK, so that
the shards share a node's fast interconnect) and vLLM's Ray executor starts a worker in each.

Autoscaling: Serve's defaults cap a replica at 5 ongoing requests, which starves vLLM's continuous
batching; `max_ongoing_requests` is raised well above `target_ongoing_requests`, and the
autoscaler adds replicas when the per-replica average passes the target. `min_replicas: 0` lets a
model scale to zero; the first request then waits for a replica to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deployments.local.engine import EngineOptions

# How many ongoing requests a replica takes at most, as a multiple of the autoscaling target.
_ONGOING_HEADROOM = 4
_MIN_MAX_ONGOING = 64
_CPU_KV_CACHE_GIB = 1


class _Autoscaling(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=16, gt=0)
    upscale_delay_s: float = Field(default=30, ge=0)
    downscale_delay_s: float = Field(default=300, ge=0)
    # Serve's other knobs, passed on only when given (`switchyard tune` scales the look-back
    # with its --speedup, and a candidate may set any of them).
    look_back_period_s: float | None = Field(default=None, gt=0)
    metrics_interval_s: float | None = Field(default=None, gt=0)
    initial_replicas: int | None = Field(default=None, ge=0)
    upscaling_factor: float | None = Field(default=None, gt=0)
    downscaling_factor: float | None = Field(default=None, gt=0)
    downscale_to_zero_delay_s: float | None = Field(default=None, ge=0)


class _Serving(BaseModel):
    """The part of the directory's `serving` block that placement and scaling read."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    num_gpus: float = Field(default=0, ge=0)  # per tensor-parallel shard
    tensor_parallel_size: int = Field(default=1, ge=1)
    accelerator_type: str | None = None
    max_model_len: int | None = Field(default=None, gt=0)
    autoscaling: _Autoscaling | None = None
    num_cpus: float = Field(default=1, ge=0)  # optional: the replica's CPU reservation
    max_ongoing_requests: int | None = Field(default=None, ge=1)  # optional override


def _serving(block: Mapping[str, Any] | BaseModel) -> _Serving:
    data = block.model_dump() if isinstance(block, BaseModel) else dict(block)
    return _Serving.model_validate(data)


def local_runtime_env(on_gpu: bool, *, cpu_kv_cache_gib: int = _CPU_KV_CACHE_GIB) -> dict[str, Any]:
    """The runtime_env a LocalModel replica needs; vLLM reads these variables at engine start."""
    # vLLM's usage telemetry phones home; a gateway chosen for privacy keeps it off.
    env = {"VLLM_NO_USAGE_STATS": "1"}
    # vLLM otherwise applies its own logging dictConfig when the engine starts, which closes every
    # handler already installed in the process. Serve's buffered access log (a MemoryHandler) then
    # loses its target and keeps every later record in memory: measured in a 30-minute soak
    # (RELIABILITY.md), a LocalModel replica grew 2.9 KB per call and its log file went silent.
    # Off, vLLM's loggers propagate to the handlers Ray Serve set up.
    env["VLLM_CONFIGURE_LOGGING"] = "0"
    if not on_gpu:
        # On a CPU, vLLM otherwise adds a multiprocess executor under the engine core,
        # which stalled in some runs here; with 0 the model runs in the engine core process.
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        # GiB of KV cache; vLLM's CPU default reserves a large share of the machine's memory.
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kv_cache_gib)
    return {"env_vars": env}


def local_deployment_options(serving: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """`serve.deployment` keyword arguments for a local model's `serving` block."""
    spec = _serving(serving)
    options: dict[str, Any] = {}
    options.update(_placement(spec))
    target = spec.autoscaling.target_ongoing_requests if spec.autoscaling else 16
    options["max_ongoing_requests"] = spec.max_ongoing_requests or max(
        _MIN_MAX_ONGOING, int(target * _ONGOING_HEADROOM)
    )
    if spec.autoscaling is None:
        options["num_replicas"] = 1
    else:
        options["autoscaling_config"] = spec.autoscaling.model_dump(exclude_none=True)
    return options


def _placement(spec: _Serving) -> dict[str, Any]:
    if spec.num_gpus == 0:
        if spec.tensor_parallel_size > 1:
            raise ValueError("tensor_parallel_size > 1 needs GPUs (num_gpus > 0)")
        return {"ray_actor_options": {"num_cpus": spec.num_cpus}}
    if spec.tensor_parallel_size == 1:
        actor: dict[str, Any] = {"num_cpus": spec.num_cpus, "num_gpus": spec.num_gpus}
        if spec.accelerator_type:
            actor["accelerator_type"] = spec.accelerator_type
        return {"ray_actor_options": actor}
    shard: dict[str, float] = {"GPU": spec.num_gpus}
    if spec.accelerator_type:
        # Ray's accelerator resource: a sliver of it pins the bundle to that GPU type.
        shard[f"accelerator_type:{spec.accelerator_type}"] = 0.001
    # The replica lives in the first bundle beside the first shard, holding CPU only.
    first = {"CPU": spec.num_cpus, **shard}
    return {
        "ray_actor_options": {"num_cpus": spec.num_cpus, "num_gpus": 0},
        "placement_group_bundles": [first]
        + [dict(shard) for _ in range(spec.tensor_parallel_size - 1)],
        "placement_group_strategy": "STRICT_PACK",
    }


def local_engine_options(serving: Mapping[str, Any] | BaseModel, **overrides: Any) -> EngineOptions:
    """Engine options implied by the `serving` block (context length, shards), plus overrides."""
    spec = _serving(serving)
    values: dict[str, Any] = {
        "max_model_len": spec.max_model_len,
        "tensor_parallel_size": spec.tensor_parallel_size,
    }
    values.update(overrides)
    return EngineOptions.model_validate(values)
