"""`switchyard scores fit`: graded outcomes become scores with a confidence from their sample size,
written into a directory copy that loads, and nothing else in the copy changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from directory.loader import SHIPPED, load_directory
from serve_app.cli import main
from serve_app.learned.scores import OutcomesError, fit_scores, wilson_width, write_scores

MODEL = next(iter(m.id for m in load_directory().models.values() if m.scores is not None))


def _outcomes(path: Path, rows: list[str], header: str = "model,capability,passed,task_id") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_more_outcomes_give_more_confidence(tmp_path: Path) -> None:
    few = [f"{MODEL},coding,{i % 5 != 0},t{i}" for i in range(10)]  # 8 of 10 pass
    many = [f"{MODEL},coding,{i % 5 != 0},t{i}" for i in range(1000)]  # 800 of 1,000
    (small,) = fit_scores(_outcomes(tmp_path / "few.csv", few))
    (large,) = fit_scores(_outcomes(tmp_path / "many.csv", many))
    assert small.score == large.score == 80
    assert (small.n, large.n) == (10, 1000)
    assert small.confidence < 0.6 < 0.9 < large.confidence


def test_wilson_width_is_the_published_interval() -> None:
    # 8 of 10: Wilson's 95 % interval is [0.490, 0.943] (Newcombe 1998, table I's method 3).
    assert wilson_width(0.8, 10) == pytest.approx(0.943 - 0.490, abs=0.002)


def test_grades_and_repeated_tasks(tmp_path: Path) -> None:
    rows = [f"{MODEL},extraction,0.5,a", f"{MODEL},extraction,1.0,b", f"{MODEL},extraction,0,a"]
    (fitted,) = fit_scores(_outcomes(tmp_path / "g.csv", rows, "model,capability,grade,task_id"))
    # Task a's second grade replaces its first: (0 + 1.0) / 2.
    assert (fitted.score, fitted.n) == (50, 2)


def test_the_copy_has_the_new_scores_with_their_source_and_loads(tmp_path: Path) -> None:
    outcomes = _outcomes(tmp_path / "evals.csv", [f"{MODEL},coding,true,t{i}" for i in range(40)])
    out = tmp_path / "directory"
    write_scores(SHIPPED, out, fit_scores(outcomes), outcomes, date(2026, 12, 5))
    coding = load_directory(out).models[MODEL].scores.get("coding")  # type: ignore[union-attr]
    assert coding.score == 100
    assert coding.source == "outcomes:evals.csv@2026-12-05, n=40"
    assert 0.8 < coding.confidence < 1
    old, new = (SHIPPED / "models.yaml").read_text(), (out / "models.yaml").read_text()
    changed = [(a, b) for a, b in zip(old.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "coding:" in changed[0][1]
    assert (out / "shortcuts.yaml").read_text() == (SHIPPED / "shortcuts.yaml").read_text()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"{MODEL},cooking,true,t1", r"row 2: capability 'cooking' is not one of reasoning"),
        (f"{MODEL},coding,perhaps,t1", r"row 2: needs `passed`"),
        ("nobody/none,coding,true,t1", r"model 'nobody/none' is not in"),
    ],
)
def test_bad_outcomes_name_the_file_and_row(tmp_path: Path, row: str, message: str) -> None:
    outcomes = _outcomes(tmp_path / "bad.csv", [row])
    with pytest.raises(OutcomesError, match=message):
        write_scores(SHIPPED, tmp_path / "out", fit_scores(outcomes), outcomes, date(2026, 12, 5))
    assert not (tmp_path / "out").exists()


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = _outcomes(
        tmp_path / "o.csv", [f"{MODEL},reasoning,{i % 2 == 0},t{i}" for i in range(20)]
    )
    assert main(["scores", "fit", str(outcomes), "--out", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert MODEL in out and "reasoning" in out and "50" in out
    # A second run must not overwrite the copy.
    assert main(["scores", "fit", str(outcomes), "--out", str(tmp_path / "copy")]) == 2
    assert "exists" in capsys.readouterr().err
