"""`switchyard route NAME`: where a shortcut or model id goes, what backs it up, and why."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from directory.policy import price_words, usd
from directory.pricing import BASE_LABEL, upcoming_changes
from directory.schema import SCORE_NAMES, Directory, ModelProfile
from serve_app.commands import Subparsers
from serve_app.commands._table import (
    SCORE_HEADERS,
    add_directory_option,
    directory_from_args,
    price_cells,
    score_cells,
    table,
)
from serve_app.commands.directory_cmd import note


def register(subparsers: Subparsers) -> None:
    route = subparsers.add_parser(
        "route", help="which model a shortcut or model id resolves to, its chain, and why"
    )
    route.add_argument("name", help="a shortcut (smart, private, embed, ...) or a model id")
    add_directory_option(route)
    route.set_defaults(handler=_route)


def _route(args: argparse.Namespace) -> int:
    print(explain_route(directory_from_args(args), args.name))
    return 0


def explain_route(directory: Directory, name: str, now: datetime | None = None) -> str:
    """The resolution, the policy's reasons if any, the chain as a table at the prices in force
    `now` (None: the clock's now), and the chain's price changes ahead."""
    now = now or datetime.now(UTC)
    chain = directory.chain(name)  # raises UnknownName with suggestions
    model = chain[0]
    lines: list[str] = []
    shortcut = directory.shortcuts.get(name)
    selection = directory.selections.get(name)
    if shortcut is None:
        lines.append(f"{name} is a model id")
    elif shortcut.learned is not None:
        lines.append(f"{name} → per prompt  ({shortcut.how()})  {shortcut.description}")
        lines.append(f"  models, cheapest first: {', '.join(shortcut.learned.models)}")
        lines.append(f"  undecided (embed model down or slow): {model.id}, whose chain follows")
    elif selection is None:
        lines.append(f"{name} → {model.id}  (pinned)  {shortcut.description}")
    else:
        lines.append(f"{name} → {model.id}  (policy)  {shortcut.description}")
        lines.append(f"  why: {selection.explanation}")
        runner_up = selection.runner_up
        if runner_up is None:
            lines.append("  runner-up: none, no other model qualifies")
        else:
            lines.append(f"  runner-up: {runner_up.model.id}, {runner_up.measure}")
            if shortcut.select is not None and shortcut.select.objective != "cheapest":
                lines.append(f"             {price_words(runner_up.model, now)}")
    roles = ("model", "backup", "secondary")
    rows = [
        [str(i), role, m.id, m.provider, m.privacy, *price_cells(m, now), *score_cells(m), note(m)]
        for i, (role, m) in enumerate(zip(roles, chain, strict=True), start=1)
    ]
    headers = ["#", "ROLE", "MODEL", "PROVIDER", "PRIVACY", "$IN/M", "$OUT/M"]
    headers += [SCORE_HEADERS[n] for n in SCORE_NAMES] + ["NOTE"]
    lines += ["", "chain (tried in this order, one hop each):"]
    lines.append(table(headers, rows, right=range(5, 15)))
    lines += _price_schedule_lines(chain, now)
    return "\n".join(lines)


def _price_schedule_lines(chain: Sequence[ModelProfile], now: datetime) -> list[str]:
    """Which chain models are priced by a schedule now, and every dated change ahead."""
    lines: list[str] = []
    for model in {m.id: m for m in chain}.values():
        today = model.pricing.in_force(now)
        if today.label != BASE_LABEL:
            lines.append(
                f"  {model.id}: now {today.label}, {usd(today.input)} in / "
                f"{usd(today.output)} out per Mtok"
            )
        for change in upcoming_changes(model, now):
            lines.append(
                f"  {model.id}: from {change.at:%Y-%m-%d %H:%M} UTC, {change.label}: {change.words}"
            )
    if not lines:
        return []
    heading = f"prices in force at {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC and changes ahead:"
    return ["", heading, *lines]
