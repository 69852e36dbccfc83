"""LocalModel on vLLM's CUDA build (the `gpu` extra): a real small model, and tensor parallelism.

Skipped without a GPU. The model is $SWITCHYARD_GPU_TEST_MODEL (a local path or a hub id already
in the Hugging Face cache: the GPU machines cannot download); without it, the tiny random-weight
Llama stands in, which still proves the CUDA path but not the quality of an answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a GPU", allow_module_level=True)
pytest.importorskip("vllm")

from deployments.canonical import ChatRequest, Message  # noqa: E402
from deployments.local import (  # noqa: E402
    TINY_LLAMA,
    EngineOptions,
    LocalModel,
    local_deployment_options,
    local_runtime_env,
)

pytestmark = [pytest.mark.gpu, pytest.mark.vllm, pytest.mark.asyncio(loop_scope="session")]

MODEL = os.environ.get("SWITCHYARD_GPU_TEST_MODEL", TINY_LLAMA)
OPTIONS = EngineOptions(max_model_len=2048, gpu_memory_utilization=0.3)
REQUEST = ChatRequest(
    model="gpu-test",
    messages=[Message(role="user", content="Name three primary colours.")],
    max_tokens=32,
    temperature=0,
)


@pytest.fixture(scope="module")
def gpu_model() -> Iterator[LocalModel]:
    os.environ.update(local_runtime_env(on_gpu=True)["env_vars"])
    model = LocalModel("local/gpu-test", MODEL, "chat", OPTIONS)
    yield model
    model.shutdown()


async def test_chat_and_stream_on_a_gpu(gpu_model: LocalModel) -> None:
    whole = await gpu_model.complete(REQUEST)
    chunks = [chunk async for chunk in gpu_model.stream(REQUEST)]

    assert whole.text and whole.usage.output_tokens > 0
    assert "".join(chunk.text for chunk in chunks) == whole.text
    assert chunks[-1].usage == whole.usage


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_tensor_parallel_replica_answers_through_serve(ray_cluster: str) -> None:
    from ray import serve

    serving: dict[str, Any] = {
        "weights": MODEL,
        "num_gpus": 1,
        "tensor_parallel_size": 2,
        "max_model_len": 2048,
        "autoscaling": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8},
    }
    options = local_deployment_options(serving)
    options["ray_actor_options"]["runtime_env"] = local_runtime_env(on_gpu=True)
    engine = EngineOptions(max_model_len=2048, tensor_parallel_size=2, gpu_memory_utilization=0.3)
    app = (
        serve.deployment(LocalModel, name="tp2")
        .options(**options)
        .bind("local/gpu-test-tp2", MODEL, "chat", engine)
    )
    try:
        handle = serve.run(app, name="tp2", route_prefix=None)
        result = handle.complete.remote(REQUEST).result(timeout_s=600)
        assert result.usage.output_tokens > 0
        status = serve.status().applications["tp2"].deployments["tp2"]
        assert status.status == "HEALTHY"
    finally:
        serve.delete("tp2")
