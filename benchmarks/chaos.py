"""The full chaos suite: every scenario of tests/chaos under 200 concurrent calls, its table
written into RELIABILITY.md.

    python -m benchmarks.chaos [--calls 600] [--concurrency 200] [--scenarios all] [--no-write]

It runs the same test `make test` runs in its short version (tests/integration/test_chaos.py,
on the integration tests' session cluster), sized up through its environment variables, and
collects each scenario's tally from the JSON lines it appends. Ray starts its own local
cluster: run it alone on the machine (one Ray cluster at a time). It exits non-zero when any
scenario failed its checks; the table is written either way, failures included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/integration/test_chaos.py"
RELIABILITY = ROOT / "RELIABILITY.md"
BEGIN = "<!-- chaos table: written by `python -m benchmarks.chaos` -->"
END = "<!-- end of chaos table -->"

COLUMNS = (
    ("scenario", "scenario"),
    ("calls", "calls"),
    ("answered", "answered"),
    ("clear_errors", "failed, clear error"),
    ("lost", "lost with the connection"),
    ("answered_without_record", "answered, no record (0)"),
    ("counted_twice", "counted twice (0)"),
    ("silent_stream_ends", "stream ended silently (0)"),
    ("overshoot", "budget overshoot / bound (USD)"),
    ("total_s", "s"),
)


def machine() -> str:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"
    )


def commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


def cell(row: dict[str, Any], key: str) -> str:
    if key == "overshoot":
        return f"{row['overshoot_usd']:.6f} / {row['overshoot_bound_usd']:.6f}"
    return str(row[key])


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(cell(row, key) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def errors(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        seen = ", ".join(f"{what}: {n}" for what, n in sorted(row["errors"].items()))
        lines.append(f"- **{row['scenario']}** ({row['what']}): {seen or 'none'}")
    return "\n".join(lines)


def section(rows: list[dict[str, Any]], command: str, outcome: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            f"Command: `{command}`  ",
            f"Run: {when}, commit {commit()}, {machine()}  ",
            f"Outcome: {outcome}",
            "",
            table(rows),
            "",
            "What the failed and lost calls were (status and error type, or the transport error):",
            "",
            errors(rows),
            END,
        ]
    )


def write_section(text: str) -> None:
    current = RELIABILITY.read_text() if RELIABILITY.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        RELIABILITY.write_text(head + text + tail)
    else:
        RELIABILITY.write_text(current.rstrip() + "\n\n" + text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=600, help="calls per scenario")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--scenarios", default="all", help="all, short, or names joined by commas")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "chaos.jsonl"
        env = {
            **os.environ,
            "CHAOS_CALLS": str(args.calls),
            "CHAOS_CONCURRENCY": str(args.concurrency),
            "CHAOS_SCENARIOS": args.scenarios,
            "CHAOS_REPORT": str(report),
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
        status = subprocess.run(pytest, cwd=ROOT, env=env).returncode
        rows = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    command = "python -m benchmarks.chaos " + " ".join(
        f"--{name} {value}"
        for name, value in (
            ("calls", args.calls),
            ("concurrency", args.concurrency),
            ("scenarios", args.scenarios),
        )
    )
    outcome = "every check passed" if status == 0 else f"pytest exited {status}: see the table"
    text = section(rows, command, outcome)
    print(text)
    if not args.no_write and rows:
        write_section(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
