"""Aligned plain-text tables and the formatting shared by the directory commands."""

from __future__ import annotations

import argparse
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime

from directory.loader import load_directory
from directory.schema import SCORE_NAMES, Directory, ModelProfile, ScoreName

# Column headers for the eight scores, short enough for all eight to fit a terminal line.
SCORE_HEADERS: dict[ScoreName, str] = dict(
    zip(
        SCORE_NAMES,
        ("REASON", "CODE", "TOOLS", "INSTR", "CREAT", "EXTRACT", "SUMM", "MULTI"),
        strict=True,
    )
)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """`rows` under `headers`, columns padded to their widest cell; `right` columns align right."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def price_cells(model: ModelProfile, now: datetime | None = None) -> list[str]:
    """Input and output USD per million tokens in force `now` (None: the clock's), as short as
    exact."""
    prices = model.pricing.in_force(now or datetime.now(UTC))
    return [f"{prices.input:g}", f"{prices.output:g}"]


def score_cells(model: ModelProfile, names: Sequence[ScoreName] = SCORE_NAMES) -> list[str]:
    if model.scores is None:
        return ["-"] * len(names)
    return [f"{model.scores.get(name).score:.0f}" for name in names]


def add_directory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--directory",
        metavar="PATH",
        help="folder with providers.yaml, models.yaml, shortcuts.yaml (default: the shipped one)",
    )


def directory_from_args(args: argparse.Namespace) -> Directory:
    return load_directory(args.directory)
