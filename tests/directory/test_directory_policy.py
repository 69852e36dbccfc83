"""Policy shortcuts: the pick, the ranking and the explanation, from directories built as dicts."""

from __future__ import annotations

from typing import Any

import pytest

from directory.loader import directory_from_dicts
from directory.schema import SCORE_NAMES, Directory

PROVIDERS = [
    {"id": "cloud", "adapter": "openai", "display_name": "Cloud", "base_url": "http://x",
     "api_key_env": "CLOUD_KEY", "privacy": "cloud"},
    {"id": "local", "adapter": "vllm", "display_name": "Local", "privacy": "local"},
]  # fmt: skip
IDS = ("cloud/a", "cloud/b", "cloud/c", "local/l")


def model(mid: str, price_in: float, price_out: float, **extra: Any) -> dict[str, Any]:
    """A chat model; its backup and secondary are the next ids, so every chain resolves."""
    local = mid.startswith("local/")
    others = [other for other in IDS if other != mid]
    score = extra.pop("score", 80)
    confidence = extra.pop("confidence", 1.0)
    profile = {
        "id": mid, "provider": mid.split("/")[0], "provider_model": mid, "kind": "chat",
        "context_window": 128_000, "max_output_tokens": 8192,
        "modalities": {"input": ["text"], "output": ["text"]},
        "features": {"tools": True, "json_schema": True, "streaming": True},
        "pricing": {"input": 0 if local else price_in, "output": 0 if local else price_out,
                    "gpu_hour_usd": 2.0 if local else None, "source": "test"},
        "latency": {"ttft_ms": 300, "output_tokens_per_s": 100, "source": "test"},
        "privacy": "local" if local else "cloud",
        "backup": others[0], "secondary": others[1],
        "scores": {n: {"score": score, "source": "test", "confidence": confidence}
                   for n in SCORE_NAMES},
    }  # fmt: skip
    if local:
        profile["serving"] = {
            "weights": "w", "num_gpus": 1, "max_model_len": 8192,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8},
        }  # fmt: skip
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(profile.get(key), dict):
            profile[key] = {**profile[key], **value}
        else:
            profile[key] = value
    return profile


def build(models: list[dict[str, Any]], select: dict[str, Any]) -> Directory:
    shortcut = {"name": "pick", "description": "test", "select": select}
    return directory_from_dicts(PROVIDERS, models, [shortcut])


def default_models(**overrides: dict[str, Any]) -> list[dict[str, Any]]:
    prices = {"cloud/a": (1.0, 4.0), "cloud/b": (0.5, 2.0), "cloud/c": (3.0, 15.0)}
    return [model(mid, *prices.get(mid, (0, 0)), **overrides.get(mid, {})) for mid in IDS]


CHEAPEST_CLOUD = {"privacy": "cloud", "objective": "cheapest"}


def test_cheapest_picks_the_lowest_blended_price_and_names_the_runner_up() -> None:
    directory = build(default_models(), CHEAPEST_CLOUD)
    selection = directory.selections["pick"]
    assert directory.resolve("pick").id == "cloud/b"
    assert [r.model.id for r in selection.ranked] == ["cloud/b", "cloud/a", "cloud/c"]
    assert selection.runner_up is not None
    assert selection.runner_up.measure == "$1.00 in / $4.00 out per Mtok (blended $1.75)"
    assert selection.explanation.startswith("cheapest of 3 qualifying out of 4")


def test_a_price_change_changes_the_pick() -> None:
    models = default_models(**{"cloud/a": {"pricing": {"input": 0.1, "output": 0.4}}})
    assert build(models, CHEAPEST_CLOUD).resolve("pick").id == "cloud/a"


def test_the_blend_weighs_input_three_to_one() -> None:
    # a: (3*1 + 4)/4 = 1.75; b made input-cheap but output-dear: (3*0.1 + 8)/4 = 2.075.
    models = default_models(**{"cloud/b": {"pricing": {"input": 0.1, "output": 8.0}}})
    assert build(models, CHEAPEST_CLOUD).resolve("pick").id == "cloud/a"


def test_a_local_model_costs_nothing_to_a_policy() -> None:
    assert build(default_models(), {"objective": "cheapest"}).resolve("pick").id == "local/l"


def test_low_confidence_scores_are_pulled_towards_the_middle() -> None:
    # b claims 95 with confidence 0.2: adjusted 0.2*95 + 0.8*50 = 59, below the minimum of 70.
    models = default_models(**{"cloud/b": {"score": 95, "confidence": 0.2}})
    select = {**CHEAPEST_CLOUD, "min_scores": {"extraction": 70}}
    directory = build(models, select)
    assert directory.resolve("pick").id == "cloud/a"
    assert "extraction >= 70 (confidence-adjusted)" in directory.selections["pick"].explanation


def test_free_tier_entries_never_win_a_policy() -> None:
    free = model("cloud/free", 0, 0, free_tier={"requests_per_day": 10, "paid_twin": "cloud/a"})
    directory = build([*default_models(), free], CHEAPEST_CLOUD)
    assert directory.resolve("pick").id == "cloud/b"


def test_required_features_and_context_filter_candidates() -> None:
    models = default_models(
        **{"cloud/b": {"features": {"json_schema": False}}, "cloud/a": {"context_window": 32_000}}
    )
    select = {**CHEAPEST_CLOUD, "features": ["json_schema"], "min_context_window": 100_000}
    assert build(models, select).resolve("pick").id == "cloud/c"


def test_fastest_ranks_by_throughput_then_first_token() -> None:
    models = default_models(
        **{
            "cloud/c": {"latency": {"output_tokens_per_s": 300}},
            "cloud/a": {"latency": {"output_tokens_per_s": 300, "ttft_ms": 100}},
        }
    )
    directory = build(models, {"privacy": "cloud", "objective": "fastest"})
    assert [r.model.id for r in directory.selections["pick"].ranked][:2] == ["cloud/a", "cloud/c"]


def test_best_ranks_by_the_mean_adjusted_score() -> None:
    models = default_models(
        **{"cloud/c": {"score": 90}, "cloud/a": {"score": 95, "confidence": 0.3}}
    )
    directory = build(models, {"objective": "best", "best_by": ["reasoning", "coding"]})
    assert directory.resolve("pick").id == "cloud/c"
    assert "mean adjusted reasoning, coding 90.0" in directory.selections["pick"].explanation


@pytest.mark.parametrize("objective", ["cheapest", "fastest", "best"])
def test_a_lone_qualifier_has_no_runner_up(objective: str) -> None:
    select: dict[str, Any] = {"min_context_window": 1_000_000, "objective": objective}
    if objective == "best":
        select["best_by"] = ["reasoning"]
    models = default_models(**{"cloud/c": {"context_window": 1_000_000}})
    selection = build(models, select).selections["pick"]
    assert selection.pick.id == "cloud/c"
    assert selection.runner_up is None
