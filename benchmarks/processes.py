"""Which process is which, and how much memory each has held.

Replica PIDs come from the Serve controller's own account of the cluster
(`serve_app.dev.local_cluster.serve_details`: every replica with its PID). Memory is the kernel's:
`VmHWM` in `/proc/PID/status` is the peak resident set since the process started; `VmRSS` is the
current one.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def replica_pids(details: dict[str, Any], app: str, deployment: str) -> list[int]:
    """PIDs of the RUNNING replicas of `app`'s `deployment`."""
    replicas = details["applications"][app]["deployments"][deployment]["replicas"]
    return [int(r["pid"]) for r in replicas if r.get("state") == "RUNNING" and r.get("pid")]


def titled(root_pid: int, prefix: str) -> list[int]:
    """Descendants of `root_pid` whose process title starts with `prefix` (Ray names its worker
    processes `ray::<actor class>`). Used for the Serve proxy, whose details carry no PID; rooted
    at this driver so that another Ray cluster on the machine is never counted."""
    found = []
    for pid in children(root_pid):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if title.startswith(prefix):
            found.append(pid)
    return found


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process (all its threads) has used so far."""
    try:
        # The command name (field 2) may hold spaces: split after its closing parenthesis.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15


def reset_peak(pid: int) -> bool:
    """Start `VmHWM` again from the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    """Direct and indirect children (LiteLLM's CLI may start its server as one)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                kids = (task / "children").read_text().split()
                found += [int(k) for k in kids]
                pending += [int(k) for k in kids]
        except OSError:
            continue
    return found


@dataclass
class RssSampler:
    """Samples the RSS of some processes every `interval_s` in a thread; keeps each one's max.

    A cross-check of `VmHWM` for a phase, and the only measure for a process whose peak was set
    before the phase (the PIDs whose `clear_refs` cannot be written).
    """

    pids: dict[str, int]
    interval_s: float = 0.05
    peaks_mb: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                value = rss_mb(pid)
                if value is not None:
                    self.peaks_mb[name] = max(value, self.peaks_mb.get(name, 0.0))
            time.sleep(self.interval_s)
