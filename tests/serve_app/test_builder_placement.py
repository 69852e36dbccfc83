"""Where the builder asks Ray to put each deployment: the Ingress and cloud proxies on the head
node, a local model where its `serving` block says — kept, with `keep_placement`, while the CPU
engine stands in for the GPU one (the simulated cluster of tests/multinode)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from directory.loader import load_directory
from serve_app.app.builder import (
    CPU_ENGINE,
    AppArgs,
    DeploymentSettings,
    LocalModelOverride,
    _local_model,
)

WORKHORSE = "local/qwen3-235b-a22b-instruct-2507"  # 4-way tensor parallel on H100s
HEAD = "node:__internal_head__"


def bound(model_id: str, override: LocalModelOverride) -> Any:
    model = load_directory(None).models[model_id]
    args = AppArgs(auth=False, local_overrides={model_id: override})
    return _local_model(model, args)._bound_deployment


def stand_in(**fields: Any) -> LocalModelOverride:
    return LocalModelOverride(
        weights="builtin:tiny-llama", on_cpu=True, engine=CPU_ENGINE, **fields
    )


def test_ingress_and_proxies_ask_for_the_head_unless_told_otherwise() -> None:
    assert DeploymentSettings().options()["ray_actor_options"]["resources"] == {HEAD: 0.001}
    assert "resources" not in DeploymentSettings(on_head=False).options()["ray_actor_options"]


def test_keep_placement_reserves_the_serving_blocks_gpus_and_runs_one_cpu_engine() -> None:
    deployment = bound(WORKHORSE, stand_in(keep_placement=True))
    bundles = deployment._replica_config.placement_group_bundles
    assert len(bundles) == 4
    assert all(b["GPU"] == 1 and b["accelerator_type:H100"] > 0 for b in bundles)
    assert deployment._replica_config.placement_group_strategy == "STRICT_PACK"
    env = deployment.ray_actor_options["runtime_env"]["env_vars"]
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # Ray leaves it alone, so the engine sees no GPU
    assert env["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"] == "1"
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # the CPU engine's settings
    assert deployment.init_kwargs["engine"]["tensor_parallel_size"] == 1


def test_without_keep_placement_the_cpu_stand_in_asks_for_no_gpu() -> None:
    deployment = bound(WORKHORSE, stand_in())
    assert deployment._replica_config.placement_group_bundles is None
    assert deployment.ray_actor_options.get("num_gpus", 0) == 0
    assert "CUDA_VISIBLE_DEVICES" not in deployment.ray_actor_options["runtime_env"]["env_vars"]


def test_keep_placement_without_the_cpu_engine_is_refused() -> None:
    with pytest.raises(ValidationError, match="keep_placement applies to the CPU engine only"):
        LocalModelOverride(keep_placement=True)
