"""`switchyard spend`: what was spent, by tenant, agent, model, day, …; and what free tiers and
budgets have left. From the ledger's SQLite file (`--ledger`, read-only) or a running app
(`--url`, its `GET /v1/spend`, with the key in SWITCHYARD_API_KEY, else
SWITCHYARD_ADMIN_KEY). A table for people, or `--csv` for spreadsheets.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from serve_app.commands import Subparsers
from serve_app.commands._table import table

GROUP_KEYS = ("tenant", "agent", "model", "provider", "shortcut", "day")
FILTERS = ("tenant", "agent", "model", "provider", "shortcut", "since", "until")
# (column header, row field, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("REQUESTS", "requests", "d"),
    ("ATTEMPTS", "attempts", "d"),
    ("FAILED", "failed", "d"),
    # Attempts booked from an estimate: a caller hung up or the stream was cut before the
    # provider's own count came (see `serve_app.routing.usage`).
    ("ESTIMATED", "estimated", "d"),
    ("IN TOK", "input_tokens", "d"),
    ("OUT TOK", "output_tokens", "d"),
    ("COST USD", "cost_usd", ".6f"),
    ("GPU USD", "gpu_cost_usd", ".6f"),
)
DEFAULT_LEDGER = "~/.switchyard/ledger.sqlite"


def register(subparsers: Subparsers) -> None:
    spend = subparsers.add_parser(
        "spend",
        help="spend by tenant, agent, model, day, …, and what free tiers and budgets have left",
    )
    source = spend.add_mutually_exclusive_group()
    source.add_argument(
        "--ledger", metavar="PATH", help=f"the ledger's SQLite file (default: {DEFAULT_LEDGER})"
    )
    source.add_argument("--url", help="a running Switchyard, e.g. http://127.0.0.1:8000")
    spend.add_argument(
        "--by",
        default="tenant",
        help=f"comma-separated keys to group by, of: {', '.join(GROUP_KEYS)} (default: tenant)",
    )
    helps = {"since": "first day (YYYY-MM-DD, UTC)", "until": "last day (YYYY-MM-DD, UTC)"}
    for key in FILTERS:
        spend.add_argument(f"--{key}", help=helps.get(key, f"only this {key}"))
    spend.add_argument("--csv", action="store_true", help="the spend rows as CSV, nothing else")
    spend.set_defaults(handler=_spend)


def _spend(args: argparse.Namespace) -> int:
    group_by = [key for key in args.by.split(",") if key]
    unknown = [key for key in group_by if key not in GROUP_KEYS]
    if unknown:
        print(f"switchyard: cannot group by {', '.join(unknown)}", file=sys.stderr)
        return 2
    filters = {key: getattr(args, key) for key in FILTERS if getattr(args, key) is not None}
    try:
        rows, allowances = _read(args, group_by, filters)
    except (OSError, ValueError) as error:
        print(f"switchyard: {error}", file=sys.stderr)
        return 1
    if args.csv:
        write_csv(rows, group_by, sys.stdout)
    else:
        print(render(rows, group_by, allowances))
    return 0


def _read(
    args: argparse.Namespace, group_by: list[str], filters: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if args.url:
        import httpx

        # A tenant key sees its own tenant's spend; the admin key everyone's.
        key = os.environ.get("SWITCHYARD_API_KEY") or os.environ.get("SWITCHYARD_ADMIN_KEY")
        response = httpx.get(
            f"{args.url.rstrip('/')}/v1/spend",
            params={"group_by": ",".join(group_by), **filters},
            headers={"authorization": f"Bearer {key}"} if key else {},
            timeout=30,
        )
        body = response.json()
        if response.status_code != 200:
            raise ValueError(body.get("error", {}).get("message", response.text))
        return body["data"], [*body.get("free_tiers", []), *body.get("budgets", [])]

    from pathlib import Path

    from deployments.ledger.store import SQLiteLedgerStore
    from serve_app.allowances.store import current_allowances

    path = Path(args.ledger or DEFAULT_LEDGER).expanduser()
    store = SQLiteLedgerStore(path, read_only=True)  # FileNotFoundError: no ledger there
    try:
        rows = [row.model_dump() for row in store.spend(group_by, filters)]
    finally:
        store.close()
    return rows, current_allowances(path, time.time())


def _cells(row: dict[str, Any], group_by: Sequence[str]) -> list[str]:
    group = row.get("group", {})
    keys = [str(group.get(key) if group.get(key) is not None else "-") for key in group_by]
    return keys + [format(row.get(field, 0), fmt) for _, field, fmt in COLUMNS]


def render(
    rows: list[dict[str, Any]], group_by: Sequence[str], allowances: list[dict[str, Any]]
) -> str:
    headers = [key.upper() for key in group_by] + [header for header, _, _ in COLUMNS]
    body = [_cells(row, group_by) for row in rows]
    if len(rows) > 1 and group_by:
        totals = {field: sum(row.get(field, 0) for row in rows) for _, field, _ in COLUMNS}
        body.append(["TOTAL", *[""] * (len(group_by) - 1), *_cells(totals, [])])
    numeric = range(len(group_by), len(headers))
    lines = [table(headers, body, right=numeric) if body else "no spend recorded"]
    free = [a for a in allowances if a.get("kind") != "budget"]
    budgets = [a for a in allowances if a.get("kind") == "budget"]
    if free:
        lines += ["", "free tiers (this window):", _free_table(free)]
    if budgets:
        lines += ["", "budgets (this period, UTC):", _budget_table(budgets)]
    return "\n".join(lines)


def _until(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _free_table(rows: list[dict[str, Any]]) -> str:
    headers = ["MODEL", "UNIT", "RESET", "WINDOW", "USED", "LIMIT", "REMAINING", "USED UP UNTIL"]
    cells = [
        [
            str(row["model"]),
            "requests" if row["kind"] == "free_requests" else "tokens",
            str(row["reset"]),
            str(row["window"]),
            f"{row['used']:g}",
            f"{row['limit']:g}",
            f"{row['remaining']:g}",
            _until(row.get("exhausted_until")),
        ]
        for row in rows
    ]
    return table(headers, cells, right=(4, 5, 6))


def _budget_table(rows: list[dict[str, Any]]) -> str:
    headers = ["TENANT", "AGENT", "PERIOD", "WINDOW", "SPENT USD", "LIMIT USD", "LEFT USD"]
    cells = [
        [
            str(row["tenant"]),
            str(row["agent"] or "*"),
            "month" if row["reset"] == "month" else "day",
            str(row["window"]),
            f"{row['used']:.6f}",
            f"{row['limit']:.6f}",
            f"{row['remaining']:.6f}",
        ]
        for row in rows
    ]
    return table(headers, cells, right=(4, 5, 6))


def write_csv(rows: list[dict[str, Any]], group_by: Sequence[str], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow([*group_by, *(field for _, field, _ in COLUMNS)])
    for row in rows:
        group = row.get("group", {})
        writer.writerow(
            [group.get(key) or "" for key in group_by] + [row.get(f, 0) for _, f, _ in COLUMNS]
        )
