"""The replica's ledger journal: what a killed replica booked reaches the ledger once, through
whoever comes next. Real files, real flocks, a real process killed with SIGKILL, SQLite on disk."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.ledger import LedgerClient
from deployments.ledger.journal import (
    Journal,
    Orphan,
    journal_folders,
    journal_root,
    open_journal,
    read_segment,
    segment_paths,
)
from tests.deployments.ledger.test_ledger_client import FakeLedger, record

REPO = Path(__file__).resolve().parents[3]

DIE_AFTER_BOOKING = """
import os, signal, sys
from pathlib import Path
from deployments.ledger.journal import Journal
from tests.deployments.ledger.test_ledger_client import record
journal = Journal(Path(sys.argv[1]), "killed-replica", segment_records=int(sys.argv[3]))
for i in range(int(sys.argv[2])):
    journal.append(record(i))
journal.acknowledge(1, int(sys.argv[4]))  # some were acknowledged before the kill
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_replica(root: Path, booked: int, segment_records: int = 1_000, acked: int = 0) -> Path:
    """A replica process that journals `booked` records and is then SIGKILLed."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DIE_AFTER_BOOKING,
            str(root),
            str(booked),
            str(segment_records),
            str(acked),
        ],
        cwd=REPO,
        check=False,
    )
    assert done.returncode == -9
    return root / "killed-replica"


@pytest.fixture
def fake(tmp_path: Path) -> FakeLedger:
    return FakeLedger(tmp_path / "ledger.db")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return journal_root(tmp_path / "ledger.db")


def test_the_journal_lives_beside_the_ledger(tmp_path: Path) -> None:
    assert journal_root(tmp_path / "ledger.sqlite") == tmp_path / "ledger.sqlite.journals"


async def test_a_killed_replicas_records_are_replayed_by_the_next_one(
    fake: FakeLedger, root: Path
) -> None:
    dead = killed_replica(root, booked=250, segment_records=100)
    assert len(segment_paths(dead)) == 3
    client = LedgerClient(fake.write, journal=Journal(root, "next-replica"))
    assert await client.replay_orphans() == 250
    assert fake.ledger.count() == 250
    assert not dead.exists()  # replayed journals are removed
    assert await client.replay_orphans() == 0
    await client.aclose()


async def test_replaying_what_the_ledger_already_has_counts_nothing_twice(
    fake: FakeLedger, root: Path
) -> None:
    fake.ledger.write([record(i) for i in range(40)])  # acknowledged, not yet compacted
    killed_replica(root, booked=50)
    client = LedgerClient(fake.write, journal=Journal(root, "next-replica"))
    await client.replay_orphans()
    assert fake.ledger.count() == 50
    await client.aclose()


async def test_a_living_replicas_journal_is_left_alone(fake: FakeLedger, root: Path) -> None:
    alive = Journal(root, "alive")
    alive.append(record(1))
    assert Orphan.claim(alive.folder) is None  # its lock is held
    client = LedgerClient(fake.write, journal=Journal(root, "other"))
    assert await client.replay_orphans() == 0
    assert fake.ledger.count() == 0 and segment_paths(alive.folder)
    alive.close()  # unacknowledged: it stays, unlocked, for the next one
    assert await client.replay_orphans() == 1
    await client.aclose()


async def test_acknowledged_segments_are_deleted(fake: FakeLedger, root: Path) -> None:
    journal = Journal(root, "replica", segment_records=10)
    client = LedgerClient(fake.write, journal=journal, batch_size=7)
    for i in range(25):
        client.book(record(i))
    assert len(segment_paths(journal.folder)) == 3
    assert await client.flush()
    assert fake.ledger.count() == 25
    assert segment_paths(journal.folder) == []
    await client.aclose()
    assert journal_folders(root) == []  # a journal with nothing left in it goes at shutdown


async def test_memory_is_bounded_and_the_rest_waits_in_the_journal(
    fake: FakeLedger, root: Path
) -> None:
    journal = Journal(root, "replica", segment_records=5)
    client = LedgerClient(fake.write, journal=journal, max_buffered=10, batch_size=3)
    fake.fail_next = 10**9  # the actor is down
    for i in range(47):
        client.book(record(i))
    assert client.in_memory == 10
    assert client.backlog == 47
    assert not await client.flush_once()
    fake.fail_next = 0
    assert await client.flush()
    assert fake.ledger.count() == 47 and client.dropped == 0
    assert segment_paths(journal.folder) == []
    await client.aclose()


async def test_without_a_journal_records_over_the_bound_are_dropped_loudly(
    fake: FakeLedger, caplog: pytest.LogCaptureFixture
) -> None:
    client = LedgerClient(fake.write, max_buffered=10)
    for i in range(14):
        client.book(record(i))
    assert client.dropped == 4 and client.in_memory == 10
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(":")[1].split()[0] for r in errors] == ["1", "2", "4"]
    await client.aclose()


async def test_a_line_cut_short_by_the_kill_is_skipped_and_reported(
    fake: FakeLedger, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = killed_replica(root, booked=3)
    segment = segment_paths(dead)[0]
    whole = record(99).model_dump_json().encode()
    with segment.open("ab") as file:
        file.write(whole[: len(whole) // 2])  # the write the kill interrupted
    read = read_segment(segment)
    assert (len(read.records), read.unreadable_lines) == (3, [4])
    caplog.clear()
    client = LedgerClient(fake.write, journal=Journal(root, "next"))
    assert await client.replay_orphans() == 3
    assert fake.ledger.count() == 3
    [warning] = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert "line 4" in warning.getMessage()
    assert "req-99" not in caplog.text  # line numbers, never the record's content
    await client.aclose()


async def test_a_journal_that_cannot_write_keeps_the_record_in_memory(
    fake: FakeLedger, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(root, "replica")
    client = LedgerClient(fake.write, journal=journal)
    shutil.rmtree(journal.folder)  # the disk took it away
    client.book(record(1))
    assert "refused 1 record" in caplog.text
    assert await client.flush()
    assert fake.ledger.count() == 1
    await client.aclose()


async def test_a_failed_final_flush_is_logged_and_left_for_the_next_replica(
    fake: FakeLedger, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = LedgerClient(fake.write, journal=Journal(root, "stopping"), max_backoff_s=0.001)
    for i in range(5):
        client.book(record(i))
    fake.fail_next = 10**9
    assert not await client.aclose(timeout_s=0.05)
    assert "5 usage record(s) not acknowledged at shutdown" in caplog.text
    fake.fail_next = 0
    successor = LedgerClient(fake.write, journal=Journal(root, "successor"))
    assert await successor.replay_orphans() == 5
    assert fake.ledger.count() == 5
    await successor.aclose()


def test_a_journal_being_set_up_is_never_taken_for_an_orphan(root: Path) -> None:
    (root / ".half-made").mkdir(parents=True)
    assert journal_folders(root) == []
    journal = Journal(root, "mine")
    assert journal_folders(root, besides=journal.folder) == []
    assert sorted(os.listdir(root)) == [".half-made", "mine"]
    journal.close()


def test_a_disk_that_refuses_the_journal_leaves_the_replica_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ledger.db.journals").write_text("a file where the folder should be")
    assert open_journal(journal_root(tmp_path / "ledger.db"), "replica") is None
    assert "kept in memory only" in caplog.text
