"""`learned:` shortcuts in shortcuts.yaml: what loads, and each broken copy's problem by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from directory.loader import SHIPPED, directory_from_dict, load_directory
from directory.routers import FORMAT
from tests.directory.helpers import Raw, problems_of, read_raw, write_raw

CHEAP, STRONG = "deepseek/deepseek-flash", "openai/gpt-6.2-astra"
ROUTER = "routers/test.json"


def artifact(
    dimensions: int = 384, steps: int = 1, embedder: str = "local/all-minilm-l6-v2"
) -> Any:
    step = {"weights": [0.0] * dimensions, "bias": 0.5, "threshold": 0.6}
    return {
        "format": FORMAT,
        "embedding_model": embedder,
        "dimensions": dimensions,
        "max_chars": 800,
        "target_quality": 0.95,
        "steps": [step] * steps,
        "training": {
            "source": "test fixture",
            "strong_column": "strong",
            "weak_columns": ["weak"],
            "rows": 10,
            "trained_on": "2026-12-06",
            "strong_share": 0.5,
            "quality": 0.95,
        },
    }


def with_learned(folder: Path, content: Any = None, **learned: Any) -> Raw:
    """The shipped directory plus a learned shortcut `qa`; `content` goes to routers/test.json."""
    raw = read_raw(SHIPPED)
    block = {"models": [CHEAP, STRONG], "router": ROUTER, "fallback": STRONG, **learned}
    raw["shortcuts"].append({"name": "qa", "description": "per prompt", "learned": block})
    if content is not None:
        (folder / "routers").mkdir(parents=True, exist_ok=True)
        (folder / ROUTER).write_text(json.dumps(content))
    return raw


@pytest.fixture(autouse=True)
def _models_exist() -> None:
    models = {m["id"] for m in read_raw(SHIPPED)["models"]}
    assert {CHEAP, STRONG} <= models  # guards the fixture: the shipped ids it names


def test_a_learned_shortcut_loads_resolves_to_its_fallback_and_travels_inline(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_raw(tmp_path, with_learned(tmp_path, artifact())))
    learned = directory.shortcuts["qa"].learned
    assert learned is not None and learned.artifact is not None
    assert directory.resolved["qa"] == STRONG  # what the route table and budgets see
    assert learned.artifact.dimensions == 384
    # A replica gets the directory as data: the artifact rides inline, no file needed.
    (tmp_path / ROUTER).unlink()
    again = directory_from_dict(directory.to_dict())
    assert again.shortcuts["qa"] == directory.shortcuts["qa"]


def test_an_unknown_model_is_named_with_the_nearest_id(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(), models=[CHEAP + "x", STRONG])
    assert (
        f"shortcuts.yaml: shortcuts[qa].learned.models[0]: unknown model '{CHEAP}x'; "
        f"did you mean '{CHEAP}'?"
    ) in problems_of(raw, tmp_path)


def test_an_embedding_model_cannot_be_one_of_the_choices(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(), models=["local/bge-m3", STRONG])
    assert (
        "shortcuts.yaml: shortcuts[qa].learned.models[0]: local/bge-m3 is a embedding model, "
        "not chat"
    ) in problems_of(raw, tmp_path)


def test_the_fallback_must_be_one_of_the_models(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(), fallback="openai/gpt-6-luna")
    assert any(
        p.startswith("shortcuts.yaml: shortcuts[qa].learned.fallback: 'openai/gpt-6-luna'")
        for p in problems_of(raw, tmp_path)
    )


def test_a_missing_router_file_is_named(tmp_path: Path) -> None:
    raw = with_learned(tmp_path)
    assert problems_of(raw, tmp_path) == [
        "shortcuts.yaml: shortcuts[qa].learned.router: cannot read routers/test.json: "
        "No such file or directory"
    ]


def test_a_router_outside_the_directory_is_refused(tmp_path: Path) -> None:
    raw = with_learned(tmp_path / "d", artifact(), router="../../etc/passwd")
    assert problems_of(raw, tmp_path / "d") == [
        "shortcuts.yaml: shortcuts[qa].learned.router: ../../etc/passwd is outside the "
        "directory's folder"
    ]


def test_vectors_of_another_size_than_the_embed_model_gives(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(dimensions=1024))
    assert problems_of(raw, tmp_path) == [
        "shortcuts.yaml: shortcuts[qa].learned.router: routers/test.json expects "
        "1024-dimension vectors; local/all-minilm-l6-v2 gives 384"
    ]


def test_weights_that_do_not_fit_the_declared_dimensions(tmp_path: Path) -> None:
    broken = artifact()
    broken["steps"][0] = {**broken["steps"][0], "weights": [0.0] * 383}
    problems = problems_of(with_learned(tmp_path, broken), tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("shortcuts.yaml: shortcuts[qa].learned.router: routers/test.json")
    assert "383 weights, not the 384 dimensions" in problems[0]


def test_a_router_for_another_number_of_models(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(steps=2))
    assert problems_of(raw, tmp_path) == [
        "shortcuts.yaml: shortcuts[qa].learned.router: routers/test.json decides between 3 "
        "models; the shortcut names 2"
    ]


def test_a_router_whose_embed_model_is_not_local(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact(embedder="openai/text-embedding-3-small"))
    problems = problems_of(raw, tmp_path)
    assert problems == [
        "shortcuts.yaml: shortcuts[qa].learned.router: routers/test.json: "
        "openai/text-embedding-3-small is not a local embedding model"
    ]


def test_a_shortcut_with_two_kinds_is_refused(tmp_path: Path) -> None:
    raw = with_learned(tmp_path, artifact())
    raw["shortcuts"][-1]["model"] = STRONG
    assert any(
        "shortcuts[qa].model: give exactly one of model: <id> (pinned), select: (policy) or "
        "learned: (per prompt)" in p
        for p in problems_of(raw, tmp_path)
    )


def test_the_shipped_router_loads_behind_a_learned_shortcut(tmp_path: Path) -> None:
    shipped = SHIPPED / "routers" / "mmlu-gpt4-mixtral.json"
    raw = with_learned(tmp_path, json.loads(shipped.read_text()))
    directory = load_directory(write_raw(tmp_path, raw))
    learned = directory.shortcuts["qa"].learned
    assert learned is not None and learned.artifact is not None
    assert learned.artifact.training.rows > 10_000


def test_route_explains_a_learned_shortcut(tmp_path: Path) -> None:
    from serve_app.commands.route_cmd import explain_route

    directory = load_directory(write_raw(tmp_path, with_learned(tmp_path, artifact())))
    text = explain_route(directory, "qa")
    assert "qa → per prompt  (learned: routers/test.json)" in text
    assert f"models, cheapest first: {CHEAP}, {STRONG}" in text
    assert f"undecided (embed model down or slow): {STRONG}" in text
