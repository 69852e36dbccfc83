"""A replica's journal of usage records: what lets a booked record outlive the replica (design §6).

Layout, under a root beside the ledger file (`journal_root`), on the replica's own node::

    <ledger>.journals/<owner>/lock            flock(LOCK_EX) held for the owner's whole life
    <ledger>.journals/<owner>/00000001.jsonl  records, one JSON line each, appended
    <ledger>.journals/<owner>/00000002.jsonl  ...

`Journal.append` writes a record's line with one `write(2)` before the gateway goes on to the
answer's last byte. Once `write` returns, the bytes are the kernel's: they survive the process
being killed (SIGKILL, OOM). There is no fsync per record. `python -m benchmarks.journal_fsync`
on the development VM (ext4 on a shared virtual disk, two runs): a write alone ~1 µs; with fsync
p50 0.18-0.85 ms, p99 0.4-8 ms, against a gateway overhead budget of about 1 ms a call; and
concurrent calls would queue behind one another's fsyncs. An fsync would only guard against an
OS crash or power loss on the replica's node, which kills its answers in flight anyway. What an
OS crash can lose is the journal's unsynced tail: records not yet acknowledged by the CostLedger,
about one flush period's worth (the store fsyncs each batch it acknowledges, `store.py`).

A line is a `UsageRecord`'s JSON: a field added to the record later needs a default, so that a
journal written before an upgrade still replays after it.

A segment is deleted once every record in it is acknowledged; there are no "ack" lines to write.
A segment closes after `segment_records` records, or as soon as all of it is acknowledged, so a
busy replica keeps a few small files and an idle one none.

A journal whose lock can be taken has no living owner: `Orphan.claim` takes it, and the claimant
replays its segments (the ledger's (call_id, attempt) key makes any record already stored a
no-op) and removes the folder. Limit: a node's journals are on that node's disk, so they are
replayed when a replica runs on that node again; a node that never comes back takes its
unacknowledged records (normally under a second's worth) with it. Do not put the root on NFS:
flock over NFS is not a reliable liveness signal.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from deployments.ledger.records import UsageRecord

logger = logging.getLogger(__name__)

LOCK_NAME = "lock"
SEGMENT_SUFFIX = ".jsonl"
_BEING_MADE = "."  # a folder still being set up has a dot name: claimants skip it


def journal_root(ledger_path: str | Path) -> Path:
    """Where the replicas on this node keep their journals: a folder beside the ledger file.

    Beside the ledger rather than in Ray's session folder, because a new Ray session (a cluster
    restart) gets a new session folder and would never see the old one's orphaned journals."""
    path = Path(ledger_path).expanduser()
    return path.with_name(path.name + ".journals")


def open_journal(root: Path, owner: str) -> Journal | None:
    """The owner's journal, or None (logged) when the disk refuses one: a replica still serves,
    its records then kept in memory only, rather than fail to start."""
    try:
        return Journal(root, owner)
    except OSError as error:
        logger.error(
            "ledger journal under %s cannot be made (%s): usage records are kept in memory only, "
            "and a killed replica loses those not yet sent",
            root,
            error.strerror or type(error).__name__,
        )
        return None


@dataclass
class SegmentRead:
    """What a segment held: the records it could read, and the lines it could not."""

    records: list[UsageRecord]
    unreadable_lines: list[int] = field(default_factory=list)  # 1-based line numbers


def read_segment(path: Path) -> SegmentRead:
    """Every readable record of a segment. A line cut short (a write interrupted by a full disk,
    or a process killed mid-write) is skipped and reported by line number, never its content."""
    result = SegmentRead(records=[])
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result.records.append(UsageRecord.model_validate_json(line))
        except ValidationError:
            result.unreadable_lines.append(number)
    if result.unreadable_lines:
        logger.warning(
            "ledger journal %s: skipped %d unreadable line(s) (line %s); a write was cut short",
            path,
            len(result.unreadable_lines),
            ", ".join(map(str, result.unreadable_lines)),
        )
    return result


def _segment_name(segment_id: int) -> str:
    return f"{segment_id:08d}{SEGMENT_SUFFIX}"


def segment_paths(folder: Path) -> list[Path]:
    """A journal folder's segments, oldest first."""
    return sorted(folder.glob(f"*{SEGMENT_SUFFIX}"))


def _lock(path: Path, *, create: bool) -> int | None:
    """An fd holding an exclusive flock on `path`, or None when a living process holds it."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class _Segment:
    id: int
    path: Path
    fd: int | None  # open for appending while the segment is the current one
    written: int = 0
    unacked: int = 0


class Journal:
    """The journal of one living owner (a replica). Not thread-safe: the replica's event loop
    is its only user."""

    def __init__(self, root: Path, owner: str, *, segment_records: int = 1_000) -> None:
        if not owner or owner.startswith(_BEING_MADE) or "/" in owner:
            raise ValueError(f"bad journal owner name {owner!r}")
        self.root = root
        self.folder = root / owner
        self._segment_records = segment_records
        root.mkdir(parents=True, exist_ok=True)
        # Made under a dot name and locked before it takes its real name, so that no claimant
        # can mistake a journal being set up for an orphan.
        making = root / f"{_BEING_MADE}{owner}"
        making.mkdir(mode=0o700)
        fd = _lock(making / LOCK_NAME, create=True)
        if fd is None:  # nobody else can know the dot name
            raise RuntimeError(f"journal lock {making / LOCK_NAME} is held by another process")
        self._lock_fd: int | None = fd
        making.rename(self.folder)
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._next_id = 1

    # --- the request path -------------------------------------------------------------------------

    def append(self, record: UsageRecord) -> int:
        """Write the record's line; return its segment's id. Raises OSError (disk full, read-only
        file system); the segment it was writing is then closed, so a line cut short stays the
        last of its file and the next record starts a new one."""
        line = record.model_dump_json().encode() + b"\n"
        segment = self._current or self._open_segment()
        assert segment.fd is not None
        try:
            written = os.write(segment.fd, line)
            if written != len(line):
                raise OSError(f"short write to {segment.path}: {written} of {len(line)} bytes")
        except OSError:
            self.roll()
            raise
        segment.written += 1
        segment.unacked += 1
        if segment.written >= self._segment_records:
            self.roll()
        return segment.id

    # --- acknowledgements and segments ------------------------------------------------------------

    def acknowledge(self, segment_id: int, count: int = 1) -> None:
        """`count` records of the segment reached the ledger; a segment all acknowledged goes."""
        segment = self._segments.get(segment_id)
        if segment is None:
            return
        segment.unacked -= count
        if segment.unacked > 0:
            return
        if segment is self._current:
            self.roll()
        else:
            self._remove(segment)

    def roll(self) -> None:
        """Close the current segment (records from now on go to a new one); a segment already all
        acknowledged is removed at once."""
        segment, self._current = self._current, None
        if segment is None:
            return
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        if segment.unacked <= 0:
            self._remove(segment)

    @property
    def current_id(self) -> int | None:
        return None if self._current is None else self._current.id

    def unacknowledged(self, segment_id: int) -> int:
        segment = self._segments.get(segment_id)
        return 0 if segment is None else segment.unacked

    def read(self, segment_id: int) -> list[UsageRecord]:
        """A closed segment's records, read back (the client reloads what it kept only on disk).
        Its count of records to acknowledge becomes what could be read."""
        segment = self._segments[segment_id]
        if segment is self._current:
            raise ValueError(f"segment {segment_id} is still being written; roll() first")
        records = read_segment(segment.path).records
        segment.unacked = len(records)
        if not records:
            self._remove(segment)
        return records

    def close(self) -> None:
        """Release the journal. With every record acknowledged it is removed; otherwise it stays,
        unlocked, and the next replica on this node replays it."""
        if self._lock_fd is None:
            return
        self.roll()
        if not self._segments:
            _remove_folder(self.folder)
        os.close(self._lock_fd)  # releases the flock
        self._lock_fd = None

    def _open_segment(self) -> _Segment:
        segment_id, self._next_id = self._next_id, self._next_id + 1
        path = self.folder / _segment_name(segment_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        segment = _Segment(id=segment_id, path=path, fd=fd)
        self._segments[segment_id] = segment
        self._current = segment
        return segment

    def _remove(self, segment: _Segment) -> None:
        self._segments.pop(segment.id, None)
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()


class Orphan:
    """A journal with no living owner, claimed (its lock held) by whoever replays it."""

    def __init__(self, folder: Path, lock_fd: int) -> None:
        self.folder = folder
        self._lock_fd: int | None = lock_fd

    @classmethod
    def claim(cls, folder: Path) -> Orphan | None:
        """The journal at `folder` if its owner is dead (its lock could be taken), else None."""
        try:
            fd = _lock(folder / LOCK_NAME, create=False)
        except FileNotFoundError:  # removed by another claimant, or not a journal
            return None
        return None if fd is None else cls(folder, fd)

    def segments(self) -> list[Path]:
        return segment_paths(self.folder)

    def remove(self) -> None:
        """Everything in it is in the ledger: delete it and let go."""
        _remove_folder(self.folder)
        self.release()

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def journal_folders(root: Path, *, besides: Path | None = None) -> list[Path]:
    """Journal folders under `root` other than `besides` (the caller's own): each may be claimed
    as an `Orphan`, which succeeds only when its owner is dead."""
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(_BEING_MADE) and path != besides
    )


def _remove_folder(folder: Path) -> None:
    for path in segment_paths(folder):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / LOCK_NAME).unlink()
    with contextlib.suppress(FileNotFoundError, OSError):
        folder.rmdir()
