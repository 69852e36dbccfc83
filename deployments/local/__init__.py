"""Local models: vLLM engines in Serve deployments, GPU-pinned and autoscaled, or on a CPU.

Importing this package does not import vLLM (only `LocalModel(...)` does), so the rest of
Switchyard works without the `local-cpu`/`gpu` extras.
"""

from deployments.local.engine import EngineOptions
from deployments.local.model import LocalModel
from deployments.local.options import (
    local_deployment_options,
    local_engine_options,
    local_runtime_env,
)
from deployments.local.tiny_model import TINY_MODEL_ID, TINY_MODEL_LABEL, ensure_tiny_model
from deployments.local.weights import MINILM, TINY_LLAMA, resolve_weights

__all__ = [
    "MINILM",
    "TINY_LLAMA",
    "TINY_MODEL_ID",
    "TINY_MODEL_LABEL",
    "EngineOptions",
    "LocalModel",
    "ensure_tiny_model",
    "local_deployment_options",
    "local_engine_options",
    "local_runtime_env",
    "resolve_weights",
]
