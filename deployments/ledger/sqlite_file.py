"""Opening the ledger's SQLite file for one of the tables that live in it.

The usage records (`store.py`), the allowances' leases and the API keys share one file, each
table with its own connection in its own actor: WAL lets them write side by side, and the busy
timeout queues the rare moment two commit at once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def open_ledger_file(
    path: str, *, synchronous: Literal["NORMAL", "FULL"], schema: str
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are exactly the BEGIN/COMMIT its owner
    writes), usable from the actor's threads, with `schema` created if missing.

    `synchronous` is the owner's to argue: both survive a killed process under WAL; only FULL
    keeps the last commits through an OS crash or power loss, at one fsync per commit."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(schema)
    return conn
