"""Fixtures for the local-model tests: the real vLLM CPU engine, one per model for the session.

An engine takes tens of seconds to start on the 2-core machines, so the chat and embedding
models start once and serve every test; the tests that use them run on the session's event loop.
Skipped cleanly when vLLM (the `local-cpu` extra) is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deployments.local import MINILM, TINY_LLAMA, EngineOptions, LocalModel, local_runtime_env

# Small on purpose: the prompt-too-long test needs a window it can overflow cheaply.
CHAT_WINDOW = 256

# enforce_eager: torch.compile would add 30-50 s to each engine start on these machines.
CHAT_OPTIONS = EngineOptions(max_model_len=CHAT_WINDOW, enforce_eager=True, max_num_seqs=16)
EMBED_OPTIONS = EngineOptions(enforce_eager=True, max_num_seqs=16)


@pytest.fixture(scope="session")
def _vllm_env() -> None:
    pytest.importorskip("vllm")
    # What the app builder puts in the deployment's runtime_env, applied to this process.
    os.environ.update(local_runtime_env(on_gpu=False)["env_vars"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model here is on disk


@pytest.fixture(scope="session")
def chat_model(_vllm_env: None) -> Iterator[LocalModel]:
    model = LocalModel("local/tiny-llama-dev", TINY_LLAMA, "chat", CHAT_OPTIONS)
    yield model
    model.shutdown()


@pytest.fixture(scope="session")
def embed_model(_vllm_env: None) -> Iterator[LocalModel]:
    model = LocalModel("local/all-minilm-l6-v2", MINILM, "embedding", EMBED_OPTIONS)
    yield model
    model.shutdown()
