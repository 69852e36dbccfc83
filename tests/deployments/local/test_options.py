"""Serve options from a local model's `serving` block: placement, scaling, environment.

Pure functions, so no vLLM and no Ray cluster needed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel

from deployments.local import (
    EngineOptions,
    local_deployment_options,
    local_engine_options,
    local_runtime_env,
)

SCALING = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 16,
    "upscale_delay_s": 30,
    "downscale_delay_s": 300,
}


def serving(**fields: object) -> dict[str, object]:
    block: dict[str, object] = {
        "weights": "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "num_gpus": 1,
        "tensor_parallel_size": 1,
        "accelerator_type": "H100",
        "max_model_len": 32768,
        "autoscaling": SCALING,
    }
    block.update(fields)
    return block


def test_one_gpu_replica_pins_its_gpu_and_type() -> None:
    options = local_deployment_options(serving())

    assert options["ray_actor_options"] == {
        "num_cpus": 1,
        "num_gpus": 1,
        "accelerator_type": "H100",
    }
    assert "placement_group_bundles" not in options


def test_autoscaling_reaches_serve_and_leaves_room_for_batching() -> None:
    options = local_deployment_options(serving())

    assert options["autoscaling_config"] == SCALING
    assert "num_replicas" not in options
    # Serve's default (5) would starve vLLM's continuous batching.
    assert options["max_ongoing_requests"] >= 4 * SCALING["target_ongoing_requests"]


def test_scale_to_zero_is_allowed() -> None:
    options = local_deployment_options(serving(autoscaling={**SCALING, "min_replicas": 0}))

    assert options["autoscaling_config"]["min_replicas"] == 0


def test_without_autoscaling_one_replica() -> None:
    options = local_deployment_options(serving(autoscaling=None))

    assert options["num_replicas"] == 1
    assert "autoscaling_config" not in options


def test_tensor_parallel_reserves_one_bundle_per_shard_on_one_node() -> None:
    options = local_deployment_options(serving(tensor_parallel_size=4))

    bundles = options["placement_group_bundles"]
    assert len(bundles) == 4
    assert all(bundle["GPU"] == 1 for bundle in bundles)
    assert all(bundle["accelerator_type:H100"] == 0.001 for bundle in bundles)
    assert bundles[0]["CPU"] == 1  # the replica itself lives in the first bundle
    assert all("CPU" not in bundle for bundle in bundles[1:])
    assert options["placement_group_strategy"] == "STRICT_PACK"
    assert options["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 0}


def test_cpu_model_asks_for_cpus_only() -> None:
    options = local_deployment_options(
        serving(num_gpus=0, accelerator_type=None, num_cpus=0.5, max_ongoing_requests=32)
    )

    assert options["ray_actor_options"] == {"num_cpus": 0.5}
    assert options["max_ongoing_requests"] == 32


def test_tensor_parallel_without_gpus_is_refused() -> None:
    with pytest.raises(ValueError, match="needs GPUs"):
        local_deployment_options(serving(num_gpus=0, tensor_parallel_size=2))


def test_a_schema_object_works_as_well_as_a_dict() -> None:
    class Serving(BaseModel):  # stands in for directory.schema.Serving
        weights: str
        num_gpus: float
        tensor_parallel_size: int
        accelerator_type: str | None
        max_model_len: int
        autoscaling: dict[str, float]

    block = serving()
    assert local_deployment_options(Serving.model_validate(block)) == local_deployment_options(
        block
    )


def test_runtime_env_sets_vllms_cpu_switches_only_on_cpu() -> None:
    cpu = local_runtime_env(on_gpu=False)["env_vars"]
    gpu = local_runtime_env(on_gpu=True)["env_vars"]

    assert cpu["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert cpu["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in gpu
    assert cpu["VLLM_NO_USAGE_STATS"] == gpu["VLLM_NO_USAGE_STATS"] == "1"


def test_engine_options_follow_the_serving_block() -> None:
    options = local_engine_options(serving(tensor_parallel_size=2), enforce_eager=True)

    assert options == EngineOptions(max_model_len=32768, tensor_parallel_size=2, enforce_eager=True)


def test_engine_options_refuse_unknown_settings() -> None:
    with pytest.raises(ValueError):
        EngineOptions.of({"max_model_length": 4096})


def test_importing_the_package_does_not_import_vllm() -> None:
    code = (
        "import sys, deployments.local; "
        "sys.exit(1 if {'vllm', 'torch', 'transformers'} & set(sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
