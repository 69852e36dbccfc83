"""What goes wrong in each scenario, struck while the load is running.

Every scenario strikes once a quarter of its calls have finished. A fault that can be undone (a
sandbox script, a read-only ledger file, a full disk) is undone once three quarters have; a killed
process is left to Ray and Serve to bring back, and the scenario then waits until the app serves
again with its two Ingress replicas, so that the next scenario starts whole.

Processes are found through Ray's state API (`list_actors`: Serve replicas are actors named by
class `ServeReplica:<app>:<deployment>`, Switchyard's own actors by name, Serve's controller is
`SERVE_CONTROLLER_ACTOR`) and killed with SIGKILL: no handler runs, no buffer is flushed.

**Disk full** is `RLIMIT_FSIZE` set to 0 (soft limit only, so it can be raised again) on the
CostLedger actor and on both Ingress replicas: every write that would extend a file fails with
EFBIG, as ENOSPC would on a full disk (CPython ignores SIGXFSZ, so the write fails instead of
killing the process). It covers the SQLite file, its WAL, and the replicas' journals. It does not
show what the kernel does on a really full file system (other processes, page cache, metadata),
nor rewrites of pages already allocated, which a full disk still allows and so does this limit.

**Read-only ledger**: the file's mode is made 0444 and the CostLedger actor is SIGKILLed, so the
actor Ray restarts opens a file it cannot write (a chmod alone would show nothing: the running
actor's open descriptor keeps its write access), as after a remount read-only and a restart. The
mode is set back at three quarters; what the ledger then does is the finding.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ray.util.state import list_actors

from serve_app.app.builder import APP_NAME, INGRESS_NAME
from serve_app.app.runtime import ALLOWANCES_ACTOR, HEALTH_ACTOR, LEDGER_ACTOR
from tests.chaos.load import Progress
from tests.integration.conftest import Switchyard

STRIKE_AT = 0.25
UNDO_AT = 0.75
SERVE_CONTROLLER = "SERVE_CONTROLLER_ACTOR"
SANDBOX_FAULTS = (
    "http_500",
    "http_503",
    "http_429",
    "overloaded",
    "quota_exhausted",
    "http_401",
    "http_400",
    "context_length",
    "hang",
    "malformed_json",
    "cut_stream_after_n_chunks",
    "slow_first_token",
)
# A hang lasts until the caller's deadline: every call of that scenario asks for its first token
# within this many seconds per attempt (X-Switchyard-First-Token-S), so a hung primary is given
# up and failed over instead of holding the load for the provider's own 15-60 s.
HANG_FIRST_TOKEN_S = 3.0


def replica_pids(deployment: str) -> list[int]:
    actors = list_actors(
        filters=[("class_name", "=", f"ServeReplica:{APP_NAME}:{deployment}")], detail=True
    )
    return [int(a.pid) for a in actors if a.state == "ALIVE" and a.pid]


def actor_pid(name: str) -> int:
    actors = list_actors(filters=[("name", "=", name)], detail=True)
    alive = [int(a.pid) for a in actors if a.state == "ALIVE" and a.pid]
    if not alive:
        raise RuntimeError(f"no living actor named {name!r}")
    return alive[0]


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def set_file_size_limit(pid: int, limit: int) -> None:
    """The soft RLIMIT_FSIZE of another process of ours (the hard limit stays, so it can be
    raised again without privileges)."""
    _soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (min(limit, hard), hard))


@dataclass
class Scenario:
    name: str
    what: str  # one line for the results table
    strike: Callable[[Switchyard], Any]  # runs in a thread at STRIKE_AT
    undo: Callable[[Switchyard], Any] | None = None  # runs in a thread at UNDO_AT
    kills: bool = False  # wait for the app to be whole again afterwards
    after: Callable[[Switchyard], Any] | None = None  # once counted: leave the app whole
    call_headers: tuple[tuple[str, str], ...] = ()
    local_model_share: bool = False  # send half the calls to the local model
    memo: dict[str, Any] = field(default_factory=dict)

    def during(self, switchyard: Switchyard) -> Callable[[Progress], Awaitable[None]]:
        async def run(progress: Progress) -> None:
            await progress.reached(STRIKE_AT)
            await asyncio.to_thread(self.strike, switchyard)
            if self.undo is not None:
                await progress.reached(UNDO_AT)
                await asyncio.to_thread(self.undo, switchyard)

        return run


def _primary(switchyard: Switchyard) -> str:
    return switchyard.directory.chain("fast")[0].id


def sandbox_fault(kind: str) -> Scenario:
    fields: dict[str, Any] = {"fault": kind, "times": None}
    if kind == "cut_stream_after_n_chunks":
        fields["n"] = 2
    if kind == "http_429":
        fields["retry_after_s"] = 1.0
    return Scenario(
        name=f"sandbox {kind}",
        what=f"the primary of `fast` answers `{kind}` to every request for half the run",
        strike=lambda s: s.script(_primary(s), **fields),
        undo=lambda s: s.sandboxes.reset(),
        call_headers=(
            (("x-switchyard-first-token-s", str(HANG_FIRST_TOKEN_S)),) if kind == "hang" else ()
        ),
    )


def _kill_replica(deployment: str) -> Callable[[Switchyard], None]:
    def strike(_: Switchyard) -> None:
        pids = replica_pids(deployment)
        if not pids:
            raise RuntimeError(f"no living replica of {deployment!r}")
        sigkill(pids[0])

    return strike


def _kill_actor(name: str) -> Callable[[Switchyard], None]:
    return lambda _: sigkill(actor_pid(name))


def _local_deployment(switchyard: Switchyard) -> str:
    model = switchyard.directory.resolve("workhorse").id
    return f"local-{model.split('/', 1)[1]}"


def _kill_local_model(switchyard: Switchyard) -> None:
    _kill_replica(_local_deployment(switchyard))(switchyard)


def _ledger_writers() -> list[int]:
    return [actor_pid(LEDGER_ACTOR), *replica_pids(INGRESS_NAME)]


def _fill_disk(switchyard: Switchyard, scenario: Scenario) -> None:
    pids = _ledger_writers()
    scenario.memo["pids"] = pids
    for pid in pids:
        set_file_size_limit(pid, 0)


def _free_disk(switchyard: Switchyard, scenario: Scenario) -> None:
    for pid in scenario.memo.get("pids", []):
        try:
            set_file_size_limit(pid, resource.RLIM_INFINITY)
        except ProcessLookupError:
            pass


def _make_ledger_read_only(switchyard: Switchyard) -> None:
    os.chmod(switchyard.ledger_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    sigkill(actor_pid(LEDGER_ACTOR))


def _make_ledger_writable(switchyard: Switchyard) -> None:
    os.chmod(switchyard.ledger_path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)


def scenarios() -> list[Scenario]:
    found = [sandbox_fault(kind) for kind in SANDBOX_FAULTS]
    found += [
        Scenario(
            "kill Ingress replica",
            "SIGKILL one of the two Ingress replicas",
            _kill_replica(INGRESS_NAME),
            kills=True,
        ),
        Scenario(
            "kill CloudProxy replica",
            "SIGKILL the replica of `cloud-groq` (the primary's provider)",
            _kill_replica("cloud-groq"),
            kills=True,
        ),
        Scenario(
            "kill LocalModel replica",
            "SIGKILL the local model's replica; half the calls go to `workhorse`",
            _kill_local_model,
            kills=True,
            local_model_share=True,
        ),
        Scenario(
            "kill ProviderHealth",
            "SIGKILL the ProviderHealth actor",
            _kill_actor(HEALTH_ACTOR),
            kills=True,
        ),
        Scenario(
            "kill CostLedger", "SIGKILL the CostLedger actor", _kill_actor(LEDGER_ACTOR), kills=True
        ),
        Scenario(
            "kill Allowances",
            "SIGKILL the Allowances actor",
            _kill_actor(ALLOWANCES_ACTOR),
            kills=True,
        ),
        Scenario(
            "kill Serve controller",
            "SIGKILL Serve's controller",
            _kill_actor(SERVE_CONTROLLER),
            kills=True,
        ),
        Scenario(
            "ledger read-only",
            "ledger file mode 0444 and the CostLedger restarted onto it; writable again at 3/4",
            _make_ledger_read_only,
            undo=_make_ledger_writable,
            kills=True,
            # An actor that opened the file read-only stays so: restart it onto the writable file.
            after=_kill_actor(LEDGER_ACTOR),
        ),
    ]
    disk = Scenario(
        "disk full",
        "RLIMIT_FSIZE 0 on the CostLedger and both Ingress replicas; lifted at 3/4",
        strike=lambda s: None,
    )
    disk.strike = lambda s: _fill_disk(s, disk)
    disk.undo = lambda s: _free_disk(s, disk)
    found.append(disk)
    return found
