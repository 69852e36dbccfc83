"""`switchyard router eval` on outcome tables in RouteLLM's format (prompt + one True/False column
per model). The tables here are made in the test so that what a good router should do is known:
the weak model gets the "easy" topics right and the "hard" ones wrong, the strong one gets all."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serve_app.cli import main
from serve_app.learned.outcomes import OutcomeTableError, read_outcomes
from serve_app.learned.over_splits import Spread
from serve_app.learned.prompt_scores import category_aware_scores, text_scores
from serve_app.learned.router_eval import (
    Prices,
    choose_threshold,
    evaluate,
    oracle_strong_share,
    quality_by_threshold,
    quality_of,
    safe_threshold,
)

STRONG, WEAK = "big-model", "small-model"
EASY = ["capital of a country", "colour of the sky", "sum of two small numbers", "days in a week"]
HARD = ["eigenvalues of a matrix", "proof by induction", "contour integral", "group homomorphism"]


def _table(
    path: Path,
    topics: list[str],
    weak_right: bool | list[str],
    rows: int,
    seed: int,
    slips: float = 0.0,
) -> Path:
    """`weak_right`: whether the weak model is right on every row, or the topics it gets right
    (but for a share `slips` of them, drawn at random)."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", WEAK, STRONG])
        for i in range(rows):
            topic = rng.choice(topics)
            right = topic in weak_right if isinstance(weak_right, list) else weak_right
            right = right and (slips == 0 or rng.random() >= slips)
            prompt = f"Question {i} about the {topic}, variant {rng.randint(0, 9)}"
            writer.writerow([prompt, str(right), "True"])
    return path


@pytest.fixture
def tables(tmp_path: Path) -> list[Path]:
    return [
        _table(tmp_path / "easy.csv", EASY, weak_right=True, rows=200, seed=1),
        _table(tmp_path / "hard.csv", HARD, weak_right=False, rows=200, seed=2),
    ]


def _figures(tables: list[Path], capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    argv = ["router", "eval", "--outcomes", *map(str, tables), "--strong", STRONG]
    argv += ["--weak", WEAK, "--strong-price", "10", "--weak-price", "1", "--seed", "3", "--json"]
    assert main([*argv, *extra]) == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)
    return figures


def test_a_learned_router_sends_what_the_weak_model_can_do_to_it(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    figures = _figures(tables, capsys)
    assert set(figures) >= {
        "strong_share", "cost_saved", "quality", "random_cost_saved",
        "category_cost_saved", "oracle_cost_saved",
    }  # fmt: skip
    # Half the prompts are easy: the router finds them, keeps the quality, and saves what the
    # oracle saves; random routing must send nearly everything to the strong model for 95 %.
    assert figures["quality"] >= 0.95
    assert figures["strong_share"] == pytest.approx(0.5, abs=0.05)
    assert figures["cost_saved"] == pytest.approx(figures["oracle_cost_saved"], abs=0.05)
    assert figures["random_cost_saved"] < figures["cost_saved"] - 0.25
    # Each file is a category, and the easy one can go to the weak model whole.
    assert figures["category_cost_saved"] == pytest.approx(0.45, abs=0.03)
    # At the category router's quality the learned router sends the same easy prompts away.
    assert figures["category_quality"] == pytest.approx(1.0)
    assert figures["cost_saved_at_category_quality"] == pytest.approx(0.45, abs=0.05)


def test_the_learned_router_knows_the_category_the_call_came_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both files ask about the same topics; the weak model is right on all of one file and none
    # of the other. The text cannot tell them apart; the category (the file) can.
    topics = EASY + HARD
    same_text = [
        _table(tmp_path / "easy.csv", topics, weak_right=True, rows=200, seed=1),
        _table(tmp_path / "hard.csv", topics, weak_right=False, rows=200, seed=2),
    ]
    figures = _figures(same_text, capsys)
    # The easy file, whole (0.45 saved), and perhaps a few hard prompts within the 5 % allowed.
    assert figures["quality"] >= 0.95
    assert 0.42 <= figures["cost_saved"] <= 0.52
    assert figures["category_cost_saved"] == pytest.approx(0.45, abs=0.03)
    assert figures["text_only_cost_saved"] < 0.15


def test_the_learned_router_refines_a_category_by_the_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In file a the weak model is right on 9 in 10 of the easy topics and none of the hard ones;
    # in file b on nothing. Giving either file whole to the weak model loses half its answers or
    # more, so the category router sends nothing; the text alone cannot either (easy prompts of
    # b are lost). Knowing both, the learned router sends the easy prompts of a, a quarter of the
    # calls, to the weak model: 2.5 % of the answers lost, within the 5 % the target allows.
    topics = EASY + HARD
    mixed = [
        _table(tmp_path / "a.csv", topics, weak_right=EASY, rows=200, seed=1, slips=0.1),
        _table(tmp_path / "b.csv", topics, weak_right=False, rows=200, seed=2),
    ]
    figures = _figures(mixed, capsys)
    assert figures["category_cost_saved"] == 0.0
    # The text alone, at that quality (all answers kept), finds no prompt to send away.
    assert figures["category_quality"] == 1.0
    assert figures["text_only_cost_saved_at_category_quality"] < 0.05
    assert figures["quality"] == pytest.approx(0.975, abs=0.015)
    # Its threshold keeps the training rows at the target and sends every such prompt away.
    assert figures["strong_share"] == pytest.approx(0.75, abs=0.05)
    assert figures["cost_saved"] == pytest.approx(0.225, abs=0.05)


def test_category_aware_scores_rank_categories_then_prompts() -> None:
    # The weak model gains nothing on category x on average and loses 3 answers in 4 on y; in
    # both, the prompts with the higher text scores are the ones it does better on.
    categories = ["x", "x", "x", "x", "y", "y", "y", "y"]
    gain = np.array([1, 0, 0, -1, 0, -1, -1, -1])
    text = np.array([0.9, 0.8, 0.3, 0.2, 0.9, 0.8, 0.3, 0.2])
    rows = np.arange(8)
    train_scores, test_scores = category_aware_scores(categories, gain, (text, text), rows, rows)
    assert test_scores == pytest.approx(train_scores)
    x, y = train_scores[:4], train_scores[4:]
    # Each category's prompts in the text's order, and the same prompt scores higher in x.
    assert list(np.argsort(-x)) == [0, 1, 2, 3] and list(np.argsort(-y)) == [0, 1, 2, 3]
    assert (x - y > 0.5).all()  # 0.75 between the categories' means, less the ridge's shrinkage


def test_the_table_and_the_plot(
    tables: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["router", "eval", "--outcomes", *map(str, tables), "--strong", STRONG]
    argv += ["--weak", WEAK, "--strong-price", "10", "--weak-price", "1"]
    assert main([*argv, "--plot", str(tmp_path / "plot.png")]) == 0
    out = capsys.readouterr().out
    routers = ("learned router", "text only", "random routing", "category router", "oracle")
    for router in routers:
        assert router in out
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_table_has_no_category_router(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = tables[0].with_name("mixed.csv")
    mixed.write_text(tables[0].read_text() + "".join(tables[1].read_text().splitlines(True)[1:]))
    figures = _figures([mixed], capsys)
    assert figures["category_cost_saved"] is None
    assert figures["cost_saved_at_category_quality"] is None


def test_the_split_is_fixed_by_the_seed(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _figures(tables, capsys) == _figures(tables, capsys)


def test_the_threshold_stops_where_quality_first_falls_below_the_target() -> None:
    # A prompt goes to the strong model when its score is below the threshold. Lowering the
    # threshold from all-strong sends rows 4, 3, 2, ... to the weak model; quality goes
    # 1.0 (row 4: the weak model is right too), 0.75 (row 3: only the strong one is right),
    # then back to 1.0 (row 2: only the weak one is right) and stays there.
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    strong = np.array([True, True, False, True, True])
    weak = np.array([True, True, True, False, True])
    # The lowest threshold that touches the target sends everything to the weak model; the safe
    # one stops above the fall, sending only row 4.
    assert choose_threshold(scores, strong, weak, 0.9) == pytest.approx(0.1)
    assert safe_threshold(scores, strong, weak, 0.9) == pytest.approx(0.5)
    assert safe_threshold(scores, strong, weak, 0.7) == pytest.approx(0.1)


def test_the_oracle_calls_the_strong_model_only_where_it_must() -> None:
    strong = np.array([True, True, True, True, False])
    weak = np.array([True, True, False, False, False])
    # Strong is right on 4; 95 % of that is 3.8 right answers: the weak model's 2 plus 2 strong.
    assert oracle_strong_share(strong, weak, 0.95) == pytest.approx(2 / 5)
    assert oracle_strong_share(strong, weak, 0.5) == 0.0


def test_bad_tables_name_the_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"prompt,{WEAK},{STRONG}\nq1,True,True\nq2,maybe,True\n")
    with pytest.raises(OutcomeTableError, match=rf"t.csv, row 3, column '{WEAK}'.*'maybe'"):
        read_outcomes([path], strong=STRONG, weak=WEAK)
    with pytest.raises(OutcomeTableError, match=r"no column 'other'"):
        read_outcomes([path], strong="other", weak=WEAK)


def test_the_cli_refuses_bad_arguments_with_a_message(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["router", "eval", "--outcomes", str(tables[0]), "--strong", STRONG, "--weak", WEAK]
    assert main([*base, "--strong-price", "10", "--weak-price", "1", "--target", "1.5"]) == 2
    assert "--target" in capsys.readouterr().err
    # One table in which the weak model is always right: nothing to learn, said plainly.
    assert main([*base, "--strong-price", "10", "--weak-price", "1"]) == 2
    assert "one outcome only" in capsys.readouterr().err
    assert main([*base[:3], "nope.csv", *base[4:], "--strong-price", "1", "--weak-price", "1"]) == 2
    assert "no such file: nope.csv" in capsys.readouterr().err


def test_prices_say_what_a_share_of_strong_calls_saves() -> None:
    assert Prices(strong=10, weak=1).cost_saved(0.5) == pytest.approx(0.45)
    assert Prices(strong=10, weak=1).cost_saved(1.0) == 0.0


def test_evaluate_reports_the_held_out_size(tmp_path: Path) -> None:
    paths = [
        _table(tmp_path / "a.csv", EASY, weak_right=True, rows=100, seed=4),
        _table(tmp_path / "b.csv", HARD, weak_right=False, rows=100, seed=5),
    ]
    report = evaluate(
        read_outcomes(paths, strong=STRONG, weak=WEAK), Prices(10, 1), target=0.95, seed=0
    )
    # Half the rows held out by default, as the protocol (a 50/50 split) has it.
    assert (report.rows_train, report.rows_test) == (100, 100)


def test_the_held_out_share_can_be_chosen(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    figures = _figures(tables, capsys, "--held-out", "0.25")
    assert (figures["rows_train"], figures["rows_test"]) == (300, 100)
    base = ["router", "eval", "--outcomes", *map(str, tables), "--strong", STRONG, "--weak", WEAK]
    assert main([*base, "--strong-price", "10", "--weak-price", "1", "--held-out", "1"]) == 2
    assert "--held-out" in capsys.readouterr().err


def test_over_splits_reports_the_mean_of_the_single_split_runs(
    tables: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    slipping = [
        _table(tables[0].with_name("slips.csv"), EASY + HARD, EASY, rows=300, seed=7, slips=0.2),
        tables[1],
    ]
    singles = [_figures(slipping, capsys, "--seed", str(seed)) for seed in (3, 4, 5)]
    over = _figures(slipping, capsys, "--seed", "3", "--splits", "3")
    assert over["splits"] == 3 and over["seeds"] == [3, 4, 5]
    assert over["rows_test"] == singles[0]["rows_test"]  # shared by every split, kept as is
    for key in ("cost_saved", "quality", "random_cost_saved", "category_cost_saved"):
        assert over[key] == pytest.approx(np.mean([one[key] for one in singles]))
        assert over["sd"][key] == pytest.approx(np.std([one[key] for one in singles], ddof=1))
    paired = [one["cost_saved"] - one["random_cost_saved"] for one in singles]
    differences = over["differences"]
    assert differences["cost_saved_minus_random_cost_saved"]["mean"] == pytest.approx(
        np.mean(paired)
    )
    at_target = [
        one["cost_saved_at_target"] - one["shuffled_cost_saved_at_target"] for one in singles
    ]
    assert differences["cost_saved_at_target_minus_shuffled_cost_saved_at_target"][
        "mean"
    ] == pytest.approx(np.mean(at_target))
    # The text tells the weak model's topics apart: read the same way at the same quality, the
    # learned ranking saves more than a shuffled one on every split.
    assert min(at_target) > 0 and np.mean(at_target) > 0.05
    reached = [one["quality"] >= 0.95 for one in singles]
    assert over["quality_at_target_share"] == pytest.approx(np.mean(reached))


def test_over_splits_table_says_mean_and_spread(
    tables: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["router", "eval", "--outcomes", *map(str, tables), "--strong", STRONG]
    argv += ["--weak", WEAK, "--strong-price", "10", "--weak-price", "1", "--splits", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 splits (seeds 0..1)" in out and "mean ± sd" in out
    assert "learned minus the category router, split by split" in out
    assert main([*argv, "--plot", str(tmp_path / "first.png")]) == 0
    assert f"plot (the first split): {tmp_path / 'first.png'}" in capsys.readouterr().out
    assert (tmp_path / "first.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*argv[:-1], "0"]) == 2
    assert "--splits must be at least 1" in capsys.readouterr().err


def test_a_spread_has_the_sample_sd_and_its_standard_error() -> None:
    spread = Spread.of([0.1, 0.3, 0.5, 0.7])
    assert spread.mean == pytest.approx(0.4)
    assert spread.sd == pytest.approx(0.2582, abs=1e-4)
    assert spread.standard_error == pytest.approx(0.2582 / 2, abs=1e-4)


def test_quality_by_threshold_is_quality_of_at_every_threshold() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        scores = np.round(rng.random(n), 1)  # ties, as real scores have
        strong, weak = rng.random(n) < 0.8, rng.random(n) < 0.6
        thresholds, quality = quality_by_threshold(scores, strong, weak)
        assert list(thresholds) == sorted(set(scores))
        expected = [quality_of(scores < t, strong, weak) for t in thresholds]
        assert list(quality) == pytest.approx(expected, abs=0)


def test_a_table_with_too_few_weak_misses_says_so_with_the_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 40 rows, the weak model wrong on two: a training half holding none or one of them has
    # nothing to learn from or too little to cross-validate. Said plainly, naming the split.
    path = tmp_path / "nearly.csv"
    path.write_text(
        f"prompt,{WEAK},{STRONG}\n"
        + "".join(f"question {i},{i not in (3, 17)},True\n" for i in range(40))
    )
    argv = ["router", "eval", "--outcomes", str(path), "--strong", STRONG, "--weak", WEAK]
    argv += ["--strong-price", "10", "--weak-price", "1", "--splits", "6"]
    assert main(argv) == 2
    assert "switchyard: split seed 0: " in capsys.readouterr().err
    weak_no_worse = np.array([i not in (3, 17) for i in range(40)])
    train, test = np.arange(0, 40, 2), np.arange(1, 40, 2)  # row 3 and 17 held out: none left
    with pytest.raises(ValueError, match="one outcome only"):
        text_scores([f"q {i}" for i in range(40)], weak_no_worse, train, test, seed=0)
    train, test = np.arange(0, 20), np.arange(20, 40)  # row 3 in training, row 17 too
    weak_no_worse[17] = True  # now only row 3 is a miss, and it is in training
    with pytest.raises(ValueError, match="too few to cross-validate on"):
        text_scores([f"q {i}" for i in range(40)], weak_no_worse, train, test, seed=0)
