"""Capability scores from graded outcomes (issue 15, item 4): `switchyard scores fit`.

A team runs its own graded tasks against models and records, per task, the model, the capability
and a pass/fail or a 0–1 grade. Each (model, capability) becomes a 0–100 score, the mean grade
times 100, with a confidence from the sample size: one minus the width of the 95 % Wilson score
interval of the mean (n = 10 at 80 % gives ≈ 0.53, n = 100 gives ≈ 0.85, n = 1,000 ≈ 0.95).
Wilson's interval is for pass/fail counts; for fractional grades it is used on their mean as if
each were a fraction of a pass, a slight overstatement of confidence when grades spread widely.

The scores are written into a copy of a directory: each changed line of `models.yaml` is replaced
in place, so comments and every other line stay as they were, and the copy is loaded (validated,
shortcuts re-resolved) before the command says it is done. `source` says
`outcomes:<file>@<date>, n=<n>`: where the figure came from and when it was fitted.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from directory.schema import SCORE_NAMES

Z_95 = 1.959964


class OutcomesError(ValueError):
    """A graded-outcomes file or a directory that cannot take its scores; names file and row."""


@dataclass(frozen=True)
class FittedScore:
    model: str
    capability: str
    score: float
    confidence: float
    n: int


def wilson_width(mean: float, n: int, z: float = Z_95) -> float:
    """Width of the Wilson score interval of a proportion `mean` over `n` trials."""
    denominator = 1 + z * z / n
    half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / denominator
    return 2 * half


def _grade(row: dict[str, str], where: str) -> float:
    if row.get("grade", "").strip():
        try:
            grade = float(row["grade"])
        except ValueError:
            raise OutcomesError(f"{where}: grade {row['grade']!r} is not a number") from None
        if not 0 <= grade <= 1:
            raise OutcomesError(f"{where}: grade {grade} is outside 0-1")
        return grade
    passed = row.get("passed", "").strip().lower()
    if passed in {"true", "1", "pass", "yes"}:
        return 1.0
    if passed in {"false", "0", "fail", "no"}:
        return 0.0
    raise OutcomesError(f"{where}: needs `passed` (true/false) or `grade` (0-1)")


def fit_scores(path: Path) -> list[FittedScore]:
    """One score per (model, capability) in the CSV (`model`, `capability`, `passed` or `grade`,
    optional `task_id`; a task graded twice for the same model counts once, its last grade)."""
    grades: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        missing = {"model", "capability"} - columns
        if missing or not columns & {"passed", "grade"}:
            raise OutcomesError(
                f"{path}: needs columns model, capability and passed or grade "
                f"(has: {', '.join(sorted(columns))})"
            )
        for number, row in enumerate(reader, start=2):
            where = f"{path}, row {number}"
            capability = row["capability"].strip()
            if capability not in SCORE_NAMES:
                raise OutcomesError(
                    f"{where}: capability {capability!r} is not one of {', '.join(SCORE_NAMES)}"
                )
            task = row.get("task_id", "").strip() or f"row-{number}"
            grades[(row["model"].strip(), capability)][task] = _grade(row, where)
    if not grades:
        raise OutcomesError(f"{path}: no rows")
    fitted = []
    for (model, capability), by_task in sorted(grades.items()):
        n = len(by_task)
        mean = sum(by_task.values()) / n
        confidence = max(0.0, 1 - wilson_width(mean, n))
        fitted.append(FittedScore(model, capability, round(100 * mean, 1), round(confidence, 2), n))
    return fitted


def _score_line(indent: str, fitted: FittedScore, source: str) -> str:
    name = f"{fitted.capability}:".ljust(22)
    return (
        f'{indent}{name} {{score: {fitted.score:g}, source: "{source}", '
        f"confidence: {fitted.confidence:g}}}"
    )


def write_scores(
    directory: Path, out: Path, fitted: list[FittedScore], outcomes: Path, today: date
) -> None:
    """Copy `directory` to `out` with the fitted scores in its models.yaml."""
    if out.exists():
        raise OutcomesError(f"{out} exists: give a new folder for the directory copy")
    text = (directory / "models.yaml").read_text()
    lines = text.splitlines()
    starts = {
        match.group(1): i
        for i, line in enumerate(lines)
        if (match := re.match(r"\s*- id:\s*(\S+)", line))
    }
    ordered = sorted(starts.values())
    for item in fitted:
        if item.model not in starts:
            raise OutcomesError(f"{outcomes}: model {item.model!r} is not in {directory}")
        start = starts[item.model]
        end = next((i for i in ordered if i > start), len(lines))
        pattern = re.compile(rf"(\s+){item.capability}:\s+\{{score:")
        hits = [i for i in range(start, end) if pattern.match(lines[i])]
        if not hits:
            raise OutcomesError(
                f"{directory / 'models.yaml'}: {item.model} has no `{item.capability}` score "
                "line to replace (a model without scores, e.g. an embedding model?)"
            )
        indent = re.match(r"\s*", lines[hits[0]])
        assert indent is not None
        source = f"outcomes:{outcomes.name}@{today.isoformat()}, n={item.n}"
        lines[hits[0]] = _score_line(indent.group(0), item, source)
    shutil.copytree(directory, out)
    (out / "models.yaml").write_text("\n".join(lines) + "\n")
