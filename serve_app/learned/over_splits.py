"""`router eval` over many splits: what is the router and what is the split's luck.

One 50/50 split of `professional_psychology` (612 rows) leaves 306 held-out rows; where a chosen
threshold lands on them moves by a standard deviation of 2.7 quality points from one seed to the
next (BENCHMARKS.md), and near 95 % one quality point is worth several points of saving. A
single split therefore cannot tell a router that saves 40 % from one that saves 33 %. Running
the same evaluation on seeds S, S+1, ... and reporting each figure's mean and spread can, and
the paired differences (the learned router minus random routing, the category router or a
shuffled ranking on the *same* split) say whether it beats them by more than the splits move.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from serve_app.learned.router_eval import Report

# The paired differences reported (`Report.figures()` keys, ours minus theirs, split by split):
# the learned router against random routing and the category router at its chosen threshold,
# and like for like: at the category router's own quality, and at the target against a ranking
# that knows nothing read off the same curve the same way.
PAIRED = (
    ("cost_saved", "random_cost_saved"),
    ("cost_saved", "category_cost_saved"),
    ("cost_saved_at_category_quality", "category_cost_saved"),
    ("cost_saved_at_target", "shuffled_cost_saved_at_target"),
)


@dataclass(frozen=True)
class Spread:
    """A figure over the splits: its mean, standard deviation and the standard error of the
    mean (sd / sqrt(splits))."""

    mean: float
    sd: float
    standard_error: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(mean, sd, sd / len(values) ** 0.5)

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "sd": self.sd, "standard_error": self.standard_error}


@dataclass(frozen=True)
class OverSplits:
    """The reports of one evaluation run on several split seeds."""

    seeds: tuple[int, ...]
    reports: tuple[Report, ...]

    @cached_property
    def _figures(self) -> list[dict[str, float | int | None]]:
        """Each split's `Report.figures()`, made once."""
        return [report.figures() for report in self.reports]

    def spread(self, key: str) -> Spread | None:
        """A figure of `Report.figures()` over the splits; None where a report has none (the
        category router's, with one table)."""
        values = [figures[key] for figures in self._figures]
        if any(value is None for value in values):
            return None
        return Spread.of([float(value) for value in values if value is not None])

    def difference(self, ours: str, theirs: str) -> Spread | None:
        """One figure of `Report.figures()` minus another, split by split (None where a report
        lacks either)."""
        differences = []
        for figures in self._figures:
            a, b = figures[ours], figures[theirs]
            if a is None or b is None:
                return None
            differences.append(a - b)
        return Spread.of(differences)

    def at_target_share(self) -> float:
        """The share of splits on which the learned router's held-out quality reached the
        target."""
        reached = [report.quality >= report.target - 1e-12 for report in self.reports]
        return sum(reached) / len(reached)

    def _same_on_every_split(self, key: str) -> bool:
        return len({figures[key] for figures in self._figures}) == 1

    def figures(self) -> dict[str, object]:
        """One JSON object: every single-split key holds its mean over the splits (so a reader
        of one split's `--json` reads this one the same way), beside the spreads, the paired
        differences and the seeds."""
        first = self._figures[0]
        spreads = {key: self.spread(key) for key in first}
        means: dict[str, object] = {
            # A figure every split shares (the row counts, the target) keeps its own value.
            key: first[key] if self._same_on_every_split(key) else _mean(spread)
            for key, spread in spreads.items()
        }
        differences = {
            f"{ours}_minus_{theirs}": _dict(self.difference(ours, theirs))
            for ours, theirs in PAIRED
        }
        return {
            **means,
            "splits": len(self.reports),
            "seeds": list(self.seeds),
            "sd": {key: None if s is None else s.sd for key, s in spreads.items()},
            "quality_at_target_share": self.at_target_share(),
            "differences": differences,
        }


def _mean(spread: Spread | None) -> float | None:
    return None if spread is None else spread.mean


def _dict(spread: Spread | None) -> dict[str, float] | None:
    return None if spread is None else spread.as_dict()


def evaluate_over_splits(run: Callable[[int], Report], first_seed: int, splits: int) -> OverSplits:
    """`run(seed)` for seeds first_seed .. first_seed + splits - 1."""
    if splits < 1:
        raise ValueError("at least one split is needed")
    seeds = tuple(range(first_seed, first_seed + splits))
    reports = []
    for seed in seeds:
        try:
            reports.append(run(seed))
        except ValueError as error:
            if splits == 1:
                raise
            raise ValueError(f"split seed {seed}: {error}") from error
    return OverSplits(seeds, tuple(reports))
