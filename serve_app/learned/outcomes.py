"""Outcome tables: per prompt, whether each model answered it well.

The format is RouteLLM's (the tables in `shared/routing-eval/`): a CSV with a `prompt` column and
one `True`/`False` column per model. Several files may be read together; each is then a category
(its file name), which the category router uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

csv.field_size_limit(10_000_000)  # prompts are whole exam questions, some long

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class OutcomeTableError(ValueError):
    """A table that cannot be read as outcomes; the message names the file, row and column."""


@dataclass(frozen=True)
class Outcomes:
    """Rows from one or more tables: prompts, their category, and each model's pass/fail."""

    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    strong: tuple[bool, ...]
    weak: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.prompts)


def _flag(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise OutcomeTableError(f"{where}: {value!r} is not True or False")


def read_outcomes(paths: list[Path], *, strong: str, weak: str) -> Outcomes:
    prompts: list[str] = []
    categories: list[str] = []
    strong_ok: list[bool] = []
    weak_ok: list[bool] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            for needed in ("prompt", strong, weak):
                if needed not in columns:
                    raise OutcomeTableError(
                        f"{path}: no column {needed!r} (columns: {', '.join(columns)})"
                    )
            for number, row in enumerate(reader, start=2):
                where = f"{path}, row {number}"
                prompts.append(row["prompt"])
                categories.append(path.stem)
                strong_ok.append(_flag(row[strong], f"{where}, column {strong!r}"))
                weak_ok.append(_flag(row[weak], f"{where}, column {weak!r}"))
    if not prompts:
        raise OutcomeTableError(f"no rows in {', '.join(str(p) for p in paths)}")
    return Outcomes(tuple(prompts), tuple(categories), tuple(strong_ok), tuple(weak_ok))
