"""`switchyard scores fit`: capability scores from graded outcomes, into a directory copy."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from serve_app.commands import Subparsers
from serve_app.commands._table import table


def register(subparsers: Subparsers) -> None:
    scores = subparsers.add_parser("scores", help="capability scores from recorded outcomes")
    commands = scores.add_subparsers(dest="scores_command", required=True, metavar="COMMAND")
    fit = commands.add_parser(
        "fit",
        help="turn graded outcomes (model, capability, passed or grade, task_id) into 0-100 "
        "scores with a confidence from the sample size, written into a copy of a directory",
    )
    fit.add_argument("outcomes", type=Path, metavar="OUTCOMES.csv")
    fit.add_argument("--out", type=Path, required=True, help="a new folder for the directory copy")
    fit.add_argument(
        "--directory", type=Path, default=None, help="the directory to copy (default: shipped)"
    )
    fit.set_defaults(handler=_fit)


def _fit(args: argparse.Namespace) -> int:
    from directory.loader import SHIPPED, load_directory
    from serve_app.learned.scores import OutcomesError, fit_scores, write_scores

    if not args.outcomes.is_file():
        print(f"switchyard: no such file: {args.outcomes}", file=sys.stderr)
        return 2
    source = args.directory or SHIPPED
    try:
        fitted = fit_scores(args.outcomes)
        write_scores(source, args.out, fitted, args.outcomes, date.today())
    except OutcomesError as error:
        print(f"switchyard: {error}", file=sys.stderr)
        return 2
    load_directory(args.out)  # a copy that does not validate is an error (DirectoryError: exit 1)
    rows = [
        [f.model, f.capability, f"{f.score:g}", f"{f.confidence:.2f}", str(f.n)] for f in fitted
    ]
    print(table(["MODEL", "CAPABILITY", "SCORE", "CONFIDENCE", "N"], rows, right={2, 3, 4}))
    print(f"wrote {args.out} (from {source})")
    print(f"see it: switchyard directory models --directory {args.out}")
    return 0
