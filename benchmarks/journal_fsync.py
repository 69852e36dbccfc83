"""What durability costs on this machine's disk: the ledger journal's per-record append, with and
without an fsync, and a SQLite WAL commit of a 100-record batch under `synchronous` NORMAL and
FULL. The figures behind the choices argued in deployments/ledger/journal.py and store.py.

    .venv/bin/python -m benchmarks.journal_fsync [--records 2000] [--dir PATH]

`--dir` should be on the disk the ledger lives on (default: the home folder, where
~/.switchyard/ledger.sqlite is).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RECORD = b'{"call_id":"' + b"x" * 32 + b'","pad":"' + b"v" * 600 + b'"}\n'  # a record's size


def _quantiles(seconds: list[float]) -> str:
    seconds = sorted(seconds)
    n = len(seconds)
    return f"p50 {seconds[n // 2] * 1e3:7.3f} ms   p99 {seconds[int(n * 0.99)] * 1e3:7.3f} ms"


def append_cost(folder: Path, records: int, sync: Callable[[int], None] | None) -> list[float]:
    fd = os.open(folder / "journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    spent = []
    try:
        for _ in range(records):
            start = time.perf_counter()
            os.write(fd, RECORD)
            if sync is not None:
                sync(fd)
            spent.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    return spent


def commit_cost(folder: Path, synchronous: str, batches: int = 200) -> list[float]:
    db = sqlite3.connect(folder / f"ledger-{synchronous}.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE usage (key TEXT PRIMARY KEY, row TEXT)")
    spent = []
    for batch in range(batches):
        rows = [(f"{batch}-{i}", RECORD.decode()) for i in range(100)]
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO usage VALUES (?, ?)", rows)
        db.execute("COMMIT")
        spent.append(time.perf_counter() - start)
    db.close()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.journal_fsync")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=Path.home())
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        folder = Path(work)
        syncs: dict[str, Callable[[int], None] | None] = {
            "write only": None,
            "+ fdatasync": os.fdatasync,
            "+ fsync": os.fsync,
        }
        for name, sync in syncs.items():
            spent = append_cost(folder, args.records, sync)
            print(f"journal append {name:14s} {_quantiles(spent)}")
        for synchronous in ("NORMAL", "FULL"):
            spent = commit_cost(folder, synchronous)
            print(f"SQLite WAL 100-row commit, {synchronous:6s} {_quantiles(spent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
