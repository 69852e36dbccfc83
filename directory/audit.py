"""`switchyard directory audit`: is the directory's evidence still good enough to route on?

Validation (`directory/checks.py`) says whether the directory is well formed; the audit says
whether it can be believed today. It reads what the data says about itself:

- every price source says when it was read ("read 2026-12-05"; a local model's "set 2026-11-25");
- a source that begins "third-party:" found no vendor page: its figures come from others;
- a score's confidence says how far its source can be trusted (directory/FORMAT.md);
- a price schedule (`pricing.schedule`) says when prices change (`directory.pricing`).

Errors are what would make a routing or a bill wrong without anyone noticing: a price nobody has
read for 60 days, a local model whose profile promises a longer context than vLLM is started
with. Warnings are what a reader should weigh but what the directory can ship with: figures only
third parties give, a pinned shortcut whose model's scores are weak, and a price change inside 14
days — a warning, not an error, because the schedule already prices calls on either side of it
correctly; it says which shortcuts may move, and a build must not turn red on a calendar date
while its data is right.

`today` is a parameter, never read from the clock here, so tests fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from directory.pricing import upcoming_changes
from directory.schema import SCORE_NAMES, Directory, ModelProfile

STALE_AFTER_DAYS = 60
CHANGE_WITHIN_DAYS = 14
LOW_CONFIDENCE = 0.5
THIRD_PARTY = "third-party:"
# The day a source was read: "read 2026-12-05", "set 2026-11-25" (a figure Switchyard chose),
# "checked 2026-12-01". Other dates in a source (when a price took effect) are not readings.
_READ_ON = re.compile(r"\b(?:read|set|checked)\s+(\d{4}-\d{2}-\d{2})\b")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # a short name for the rule, e.g. "stale-source"
    where: str  # file and entry, e.g. "models.yaml: mistral/codestral pricing.source"
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message} [{self.check}]"


def audit(
    directory: Directory,
    today: date,
    *,
    stale_after_days: int = STALE_AFTER_DAYS,
    change_within_days: int = CHANGE_WITHIN_DAYS,
) -> list[Finding]:
    """Every finding for `directory` as of `today`, errors first, then in file order."""
    findings: list[Finding] = []
    for model in directory.models.values():
        findings += _sources(model, today, stale_after_days)
        findings += _price_changes(model, today, change_within_days)
        findings += _serving(model)
    findings += _pinned_scores(directory)
    return sorted(findings, key=lambda f: f.severity != "error")


def read_dates(source: str) -> list[date]:
    """The days a source says it was read, in the order it names them (bad dates left out)."""
    days = []
    for text in _READ_ON.findall(source):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            continue
    return days


def _price_sources(model: ModelProfile) -> Iterator[tuple[str, str]]:
    yield "pricing.source", model.pricing.source
    for i, period in enumerate(model.pricing.schedule):
        yield f"pricing.schedule[{i}].source", period.source


def _sources(model: ModelProfile, today: date, stale_after_days: int) -> list[Finding]:
    findings = []
    for field, source in _price_sources(model):
        where = f"models.yaml: {model.id} {field}"
        days = read_dates(source)
        if not days:
            findings.append(
                Finding(
                    "error", "undated-source", where, "says no day it was read (read YYYY-MM-DD)"
                )
            )
        else:
            oldest = min(days)
            age = (today - oldest).days
            if age > stale_after_days:
                findings.append(
                    Finding(
                        "error",
                        "stale-source",
                        where,
                        f"read {oldest.isoformat()}, {age} days ago (limit {stale_after_days}): "
                        "read the page again and update the figures and the date",
                    )
                )
        if source.startswith(THIRD_PARTY):
            findings.append(
                Finding(
                    "warning",
                    "third-party-price",
                    where,
                    "no vendor page was read: the figures come only from the third parties named",
                )
            )
    return findings


def _price_changes(model: ModelProfile, today: date, within_days: int) -> list[Finding]:
    # From the start of `today` (UTC): a change later today counts, one at midnight just gone
    # does not. Time-of-day windows are how a period's prices work daily, not changes.
    now = datetime.combine(today, time(), UTC)
    return [
        Finding(
            "warning",
            "price-change-soon",
            f"models.yaml: {model.id} pricing.schedule",
            f"prices change at {change.at:%Y-%m-%d %H:%M} UTC to {change.label} "
            f"({change.words}), within {within_days} days: check the figures against the "
            "vendor's page and the shortcuts that will move",
        )
        for change in upcoming_changes(model, now, timedelta(days=within_days))
    ]


def _serving(model: ModelProfile) -> list[Finding]:
    serving = model.serving
    if serving is None:
        return []
    # The opposite (vLLM allowed more than the profile) is a validation error (checks.py).
    where = f"models.yaml: {model.id} serving.max_model_len"
    if serving.max_model_len < model.context_window:
        return [
            Finding(
                "error",
                "context-mismatch",
                where,
                f"vLLM is started with {serving.max_model_len} tokens but the profile's "
                f"context_window promises {model.context_window}: longer prompts will fail",
            )
        ]
    return []


def _pinned_scores(directory: Directory) -> list[Finding]:
    findings = []
    for name, shortcut in directory.shortcuts.items():
        if shortcut.model is None:
            continue
        model = directory.models[shortcut.model]
        if model.scores is None:
            continue
        scores = [model.scores.get(score) for score in SCORE_NAMES]
        weak = [s for s in scores if s.confidence < LOW_CONFIDENCE]
        if weak:
            best = max(s.confidence for s in scores)
            # Most models' extraction and summarization are anecdotes; say more only when the
            # weak scores are the majority.
            verdict = ": the pin rests on little evidence" if 2 * len(weak) > len(scores) else ""
            findings.append(
                Finding(
                    "warning",
                    "low-confidence-pin",
                    f"shortcuts.yaml: {name}",
                    f"pinned to {model.id}, {len(weak)} of {len(scores)} of whose scores have "
                    f"confidence below {LOW_CONFIDENCE} (highest {best:.1f}){verdict}",
                )
            )
    return findings
