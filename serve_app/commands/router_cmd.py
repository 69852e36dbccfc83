"""`switchyard router eval`: how much a learned router saves at a target quality, offline;
`switchyard router train`: the artifact a `learned:` shortcut serves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from serve_app.commands import Subparsers
from serve_app.commands._table import table

if TYPE_CHECKING:
    from serve_app.learned.over_splits import OverSplits


def register(subparsers: Subparsers) -> None:
    router = subparsers.add_parser("router", help="evaluate routers on recorded outcomes")
    commands = router.add_subparsers(dest="router_command", required=True, metavar="COMMAND")
    evaluate = commands.add_parser(
        "eval",
        help="train a router between a strong and a weak model on outcome tables and report, "
        "on held-out rows, the cost it saves at a target quality beside random, category and "
        "oracle routing. With several files the learned router knows the category (file) the "
        "call came through, as the category router does, beside the prompt's text; the "
        "text-only router is reported beside it",
    )
    evaluate.add_argument(
        "--outcomes",
        nargs="+",
        type=Path,
        required=True,
        metavar="FILE.csv",
        help="tables with a `prompt` column and one True/False column per model; with several, "
        "each file is a category",
    )
    evaluate.add_argument(
        "--strong", required=True, metavar="COL", help="the strong model's column"
    )
    evaluate.add_argument("--weak", required=True, metavar="COL", help="the weak model's column")
    evaluate.add_argument(
        "--strong-price",
        type=float,
        required=True,
        metavar="P",
        help="the strong model's blended price, any unit",
    )
    evaluate.add_argument(
        "--weak-price",
        type=float,
        required=True,
        metavar="P",
        help="the weak model's blended price, same unit",
    )
    evaluate.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="quality to keep, as a share of the strong model's (default 0.95)",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="the split's seed (default 0)")
    evaluate.add_argument(
        "--splits",
        type=int,
        default=1,
        metavar="N",
        help="run on N splits (seeds SEED .. SEED+N-1) and report each figure's mean and "
        "standard deviation, and paired differences split by split: the learned router's "
        "saving minus random routing's, the category router's and a shuffled ranking's "
        "(default 1). One split of a small table moves the quality a "
        "chosen threshold lands at by points; the mean over splits tells the router from luck",
    )
    evaluate.add_argument(
        "--held-out",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="the share of rows held out to report on (default 0.5: train on half)",
    )
    evaluate.add_argument("--plot", type=Path, metavar="PNG", help="write the cost-quality plot")
    evaluate.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object"
    )
    evaluate.set_defaults(handler=_eval)
    _register_train(commands)


def _register_train(commands: Subparsers) -> None:
    train = commands.add_parser(
        "train",
        help="train the router a learned: shortcut serves: prompts embedded with all-MiniLM-L6-v2 "
        "(the vectors the live embed model gives), a logistic model, the threshold for a target "
        "share of the strong model's quality; writes a JSON artifact",
    )
    train.add_argument("--outcomes", nargs="+", type=Path, required=True, metavar="FILE.csv")
    train.add_argument("--strong", required=True, metavar="COL", help="the strong model's column")
    train.add_argument("--weak", required=True, metavar="COL", help="the weak model's column")
    train.add_argument("--target", type=float, default=0.95, help="quality to keep (default 0.95)")
    train.add_argument("--seed", type=int, default=0, help="cross-validation's seed (default 0)")
    train.add_argument(
        "--source",
        help="where the tables come from, in words (kept in the artifact; default: the file names)",
    )
    train.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    train.set_defaults(handler=_train)


def _eval(args: argparse.Namespace) -> int:
    from serve_app.learned.outcomes import OutcomeTableError, read_outcomes
    from serve_app.learned.over_splits import evaluate_over_splits
    from serve_app.learned.router_eval import Prices, Report, evaluate

    problem = _bad_outcomes_or_target(args)
    if problem is None and (args.strong_price <= 0 or args.weak_price < 0):
        problem = "prices must be positive (the weak one may be 0)"
    if problem is None and not 0 < args.held_out < 1:
        problem = "--held-out must be between 0 and 1"
    if problem is None and args.splits < 1:
        problem = "--splits must be at least 1"
    if problem is not None:
        print(f"switchyard: {problem}", file=sys.stderr)
        return 2
    try:
        outcomes = read_outcomes(args.outcomes, strong=args.strong, weak=args.weak)
        prices = Prices(strong=args.strong_price, weak=args.weak_price)

        def run(seed: int) -> Report:
            return evaluate(
                outcomes, prices, target=args.target, seed=seed, test_size=args.held_out
            )

        over = evaluate_over_splits(run, args.seed, args.splits)
    except (OutcomeTableError, ValueError) as error:
        print(f"switchyard: {error}", file=sys.stderr)
        return 2
    if args.plot is not None:
        from serve_app.learned.plot import cost_quality_png

        title = f"{len(args.outcomes)} table(s), target {args.target:.0%}, seed {args.seed}"
        if args.splits > 1:
            title += f" (first of {args.splits} splits)"
        cost_quality_png(over.reports[0], prices, args.plot, title)
    _print_report(over, args)
    return 0


def _print_report(over: OverSplits, args: argparse.Namespace) -> None:
    """The figures of one split as they are, or of several as mean ± sd with the paired
    differences; `--json` prints one split's `Report.figures()` or `OverSplits.figures()`."""
    from serve_app.learned.over_splits import PAIRED

    one = len(over.reports) == 1
    first = over.reports[0]
    if args.json:
        json.dump(first.figures() if one else over.figures(), sys.stdout)
        print()
        return
    sizes = f"{first.rows_train} rows to train on, {first.rows_test} held out"
    if not one:
        sizes = (
            f"{len(over.reports)} splits (seeds {over.seeds[0]}..{over.seeds[-1]}), each {sizes}"
        )
    print(f"{sizes}; target {args.target:.0%} of the strong model's quality")
    if not one:
        print("mean ± sd over the splits")

    def cell(key: str) -> str:
        spread = over.spread(key)
        if spread is None:
            return "-"
        return f"{spread.mean:.1%}" if one else f"{spread.mean:.1%} ± {spread.sd:.1%}"

    target = f"{args.target:.1%}"
    rows = [
        ["learned router", cell("strong_share"), cell("quality"), cell("cost_saved")],
        ["text only (no category)", "", cell("text_only_quality"), cell("text_only_cost_saved")],
        ["random routing", "", target, cell("random_cost_saved")],
        ["category router", "", cell("category_quality"), cell("category_cost_saved")],
        [
            "learned, at category's quality*",
            "",
            cell("category_quality"),
            cell("cost_saved_at_category_quality"),
        ],
        [
            "text only, at category's quality*",
            "",
            cell("category_quality"),
            cell("text_only_cost_saved_at_category_quality"),
        ],
        ["learned, at the target*", "", target, cell("cost_saved_at_target")],
        ["shuffled ranking, at the target*", "", target, cell("shuffled_cost_saved_at_target")],
        ["oracle", "", target, cell("oracle_cost_saved")],
    ]
    print(table(["ROUTER", "TO STRONG", "QUALITY", "COST SAVED"], rows, right={1, 2, 3}))
    print(
        "* the threshold read off the held-out rows' own curve (at the target, or at the "
        "category router's quality): compares how routers rank prompts, not a saving a "
        "deployed router would see; on a small table that reading flatters any ranking, "
        "which the shuffled one (random scores, read the same way) shows"
    )
    if not one:
        print(
            f"learned router at or above the target on {over.at_target_share():.0%} of the splits"
        )
        for (ours, theirs), words in zip(PAIRED, PAIRED_WORDS, strict=True):
            difference = over.difference(ours, theirs)
            if difference is not None:
                print(
                    f"{words}, split by split: {difference.mean:+.1%} "
                    f"(sd {difference.sd:.1%}, standard error {difference.standard_error:.1%})"
                )
    if args.plot is not None:
        print(f"plot: {args.plot}" if one else f"plot (the first split): {args.plot}")


# How the table says each of `over_splits.PAIRED`.
PAIRED_WORDS = (
    "learned minus random routing",
    "learned minus the category router",
    "learned at the category router's quality* minus the category router",
    "learned at the target* minus a shuffled ranking at the target*",
)


def _train(args: argparse.Namespace) -> int:
    from serve_app.learned.embedding import MiniLM
    from serve_app.learned.outcomes import OutcomeTableError, read_outcomes
    from serve_app.learned.train import fit_router, prompts_to_embed

    problem = _bad_outcomes_or_target(args)
    if problem is not None:
        print(f"switchyard: {problem}", file=sys.stderr)
        return 2
    try:
        outcomes = read_outcomes(args.outcomes, strong=args.strong, weak=args.weak)
        vectors = MiniLM().embed(prompts_to_embed(outcomes.prompts))
        source = args.source or ", ".join(path.name for path in args.outcomes)
        artifact = fit_router(
            outcomes,
            vectors,
            target=args.target,
            source=source,
            strong_column=args.strong,
            weak_column=args.weak,
            seed=args.seed,
        )
    except (OutcomeTableError, ValueError) as error:
        print(f"switchyard: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(artifact.model_dump_json(indent=1) + "\n", encoding="utf-8")
    figures = artifact.training
    print(
        f"{figures.rows} rows; threshold {artifact.steps[0].threshold:.3f}; cross-validated: "
        f"{figures.strong_share:.1%} to the strong model at {figures.quality:.1%} of its quality"
    )
    print(f"router: {args.out}")
    return 0


def _bad_outcomes_or_target(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments `eval` and `train` share, if anything."""
    if not 0 < args.target <= 1:
        return "--target must be in (0, 1]"
    missing = [str(path) for path in args.outcomes if not path.is_file()]
    if missing:
        return f"no such file: {', '.join(missing)}"
    return None
