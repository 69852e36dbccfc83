"""A small, valid directory for tests of the router: three providers, a chain of three models.

alpha/a1 ─backup→ beta/b1 ─┐        shortcut `smart` pins alpha/a1
    └──secondary→ local/l1 │        shortcut `private` pins local/l1 (chain all local)
local/l1 → local/l2, local/l3       alpha/free (free tier, paid twin alpha/a1)
"""

from __future__ import annotations

from typing import Any

from directory.loader import directory_from_dicts
from directory.schema import Directory

SCORES = {
    name: {"score": 70, "source": "test fixture", "confidence": 0.5}
    for name in (
        "reasoning",
        "coding",
        "tool_calling",
        "instruction_following",
        "creative_writing",
        "extraction",
        "summarization",
        "multilingual",
    )
}


def provider(pid: str, adapter: str, privacy: str = "cloud") -> dict[str, Any]:
    cloud = privacy == "cloud"
    return {
        "id": pid,
        "adapter": adapter,
        "display_name": pid.title(),
        "base_url": "http://127.0.0.1:9" if cloud else None,
        "api_key_env": f"{pid.upper()}_API_KEY" if cloud else None,
        "privacy": privacy,
        "breaker": {"failure_threshold": 3, "cooldown_s": 5},
    }


def chat_model(mid: str, backup: str, secondary: str, **overrides: Any) -> dict[str, Any]:
    provider_id = mid.split("/")[0]
    local = provider_id == "local"
    model: dict[str, Any] = {
        "id": mid,
        "provider": provider_id,
        "provider_model": mid.split("/")[1],
        "kind": "chat",
        "context_window": 8192,
        "max_output_tokens": 1024,
        "modalities": {"input": ["text"], "output": ["text"]},
        "features": {"tools": True, "json_schema": True, "vision": False, "streaming": True},
        "pricing": {
            "input": 0.0 if local else 1.0,
            "output": 0.0 if local else 4.0,
            "gpu_hour_usd": 2.0 if local else None,
            "source": "test fixture",
        },
        "latency": {"ttft_ms": 100, "output_tokens_per_s": 100, "source": "test fixture"},
        "privacy": "local" if local else "cloud",
        "backup": backup,
        "secondary": secondary,
        "scores": SCORES,
    }
    if local:
        model["serving"] = {
            "weights": "tiny",
            "num_gpus": 0,
            "max_model_len": 8192,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 4},
        }
    model.update(overrides)
    return model


def mini_directory(**model_overrides: dict[str, Any]) -> Directory:
    """The fixture directory; `model_overrides={"alpha/a1": {...}}` changes single fields."""
    models = [
        chat_model("alpha/a1", "beta/b1", "local/l1"),
        chat_model("beta/b1", "alpha/a1", "local/l1"),
        chat_model(
            "alpha/free",
            "beta/b1",
            "local/l1",
            pricing={"input": 0.0, "output": 0.0, "source": "test fixture"},
            free_tier={"requests_per_day": 2, "paid_twin": "alpha/a1"},
        ),
        chat_model("local/l1", "local/l2", "local/l3"),
        chat_model("local/l2", "local/l1", "local/l3"),
        chat_model("local/l3", "local/l1", "local/l2"),
    ]
    for model in models:
        model.update(model_overrides.get(model["id"], {}))
    return directory_from_dicts(
        [
            provider("alpha", "openai"),
            provider("beta", "anthropic"),
            provider("local", "vllm", privacy="local"),
        ],
        models,
        [
            {"name": "smart", "description": "test", "model": "alpha/a1"},
            {"name": "free", "description": "test", "model": "alpha/free"},
            {
                "name": "private",
                "description": "test",
                "select": {"privacy": "local", "objective": "fastest"},
            },
        ],
    )
