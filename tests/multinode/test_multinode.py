"""Switchyard on three Ray nodes (a CPU head, an H100 worker, an L4 worker; the GPUs are fake
resources and the tiny Llama on vLLM's CPU build serves both local models), then the H100 worker
is killed under load and a spare H100 worker joins. What the cluster did is observed by
scenario.py in a child process (its own Ray cluster); these tests read its account.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.multinode.conftest import MARKER
from tests.multinode.scenario import BACKUP, PRIMARY, WARM_UP_CALLS

pytest.importorskip("vllm")
pytestmark = [getattr(pytest.mark, MARKER), pytest.mark.vllm]

REPO = Path(__file__).resolve().parents[2]
SCENARIO_LIMIT_S = 420  # about 2 minutes when the machine is quiet
# How a call to the H100 model's primary attempt may end once the node is gone.
NO_REPLICA_KINDS = {"ProviderUnavailable", "NoRunningReplica"}
# Not a latency figure: far under the 120 s a call waited before the Ingress watched Serve's
# replicas, far over what a failover takes even on a busy 2-core machine.
PROMPT_S = 30


def deployment(model_id: str) -> str:
    return f"local-{model_id.split('/', 1)[1]}"


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("multinode") / "facts.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.multinode.scenario", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SCENARIO_LIMIT_S,
    )
    if run.returncode != 0 or not out.exists():
        pytest.fail(f"the scenario failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    facts: dict[str, Any] = json.loads(out.read_text())
    return facts


def test_each_part_runs_where_cluster_yaml_puts_it(facts: dict[str, Any]) -> None:
    replicas = facts["replicas"]
    assert replicas[deployment(PRIMARY)] == ["h100"]  # serving: accelerator_type H100
    assert replicas[deployment(BACKUP)] == ["l4"]
    assert replicas["ingress"] == ["head"]
    assert replicas["cloud-openai"] == ["head"]
    assert facts["actors"] == {
        "switchyard-provider-health": "head",
        "switchyard-cost-ledger": "head",
        "switchyard-allowances": "head",
    }


def test_the_ledger_on_the_head_books_every_attempt_in_its_file(facts: dict[str, Any]) -> None:
    assert facts["actors"]["switchyard-cost-ledger"] == "head"
    spare = facts["after_spare"]
    calls = [*facts["calls"], *spare["calls_before"], spare["call"]]
    attempts = sum(c["attempts"] for c in calls)
    assert facts["ledger_rows"] == attempts + WARM_UP_CALLS  # one row per attempt, none twice


def test_losing_the_h100_worker_fails_its_calls_over_to_the_backup_on_l4(
    facts: dict[str, Any],
) -> None:
    removed = facts["node_removed_at"]
    calls = facts["calls"]
    assert [c for c in calls if c["status"] != 200] == []  # not one call failed
    before = [c for c in calls if c["started"] + c["seconds"] < removed]
    assert before and {(c["model"], c["attempts"]) for c in before} == {(PRIMARY, 1)}
    after = [c for c in calls if c["started"] > removed + 1]  # the node is gone by then
    assert len(after) >= 4
    assert {c["model"] for c in after} == {BACKUP}
    # No call waited out the local provider's 120 s first-content deadline (ProviderTimeout):
    # each that tried the primary found it gone at once (its replica's death, or Serve saying
    # it lost the replica: NoRunningReplica), and once the Ingress knew, the primary was
    # planned out and never tried.
    assert {kind for c in after for kind in c["failed_kinds"]} <= NO_REPLICA_KINDS
    planned_out = [c for c in after if c["attempts"] == 1]
    assert planned_out
    assert all(c["skipped"][0].startswith("no running replica") for c in planned_out)
    assert max(c["seconds"] for c in calls) < PROMPT_S


def test_the_lost_replica_waits_for_an_h100_and_lands_on_the_spare(
    facts: dict[str, Any],
) -> None:
    lost = facts["after_removal"]["status"][deployment(PRIMARY)]
    # No other node has an H100: Serve keeps trying to start the replica, and says so.
    assert facts["after_removal"]["running"][deployment(PRIMARY)] == []
    assert lost == {"status": "UNHEALTHY", "replica_states": ["STARTING"]}
    assert facts["after_removal"]["running"][deployment(BACKUP)] == ["l4"]

    spare = facts["after_spare"]
    assert spare["running"][deployment(PRIMARY)] == ["h100-spare"]
    assert spare["status"][deployment(PRIMARY)]["status"] == "HEALTHY"
    back = spare["call"]
    assert (back["status"], back["model"], back["attempts"]) == (200, PRIMARY, 1)
