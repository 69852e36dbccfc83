"""Each scenario alone, under concurrent mixed load: what callers saw against what the ledger holds.

Per scenario: `CHAOS_CALLS` calls, `CHAOS_CONCURRENCY` at a time, streamed and plain alternating,
a quarter of them on a tenant with a small day budget; the fault strikes at a quarter of the
calls (faults.py). Then, once the app is whole again and the ledger has what it will get:
every answered call has its record, none is counted twice, no stream ended without `[DONE]` or
an error event, and the budget was overshot by no more than its documented bound. Calls lost
with their connection (an Ingress killed under them) are counted, not failed: the caller saw no
answer and the ledger owes nothing for them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from serve_app.app.builder import INGRESS_NAME
from tests.chaos.faults import Scenario, replica_pids
from tests.chaos.load import CallSpec, run_calls
from tests.chaos.suite import (
    BUDGET_MAX_TOKENS,
    BUDGET_PROMPT,
    ChaosRun,
    chaos_run,
    healthy,
    selected,
)
from tests.chaos.tally import Tally, tally, wait_for_records
from tests.integration.conftest import Switchyard, wait_until_serving

pytestmark = pytest.mark.ray

RECOVERY_S = 240  # a generous bound on Ray and Serve replacing what was killed; not a claim
# Records of a killed replica arrive when the next replica's sender replays its journal (every
# 10 s); a restarted actor takes its own seconds.
LEDGER_WAIT_S = 90
LOCAL_MAX_TOKENS = 16  # the tiny CPU model: short answers keep its share of the load light


@pytest.fixture(scope="module")
def chaos(switchyard: Switchyard) -> Iterator[ChaosRun]:
    yield from chaos_run(switchyard)


def specs(chaos: ChaosRun, scenario: Scenario) -> list[CallSpec]:
    tenant, budget_tenant = chaos.tenant(scenario), chaos.budget_tenant(scenario)
    out = []
    for index in range(chaos.settings.calls):
        stream = index % 2 == 1
        if index % 4 == 0:
            spec = CallSpec(
                tenant=budget_tenant,
                stream=stream,
                content=BUDGET_PROMPT,
                max_tokens=BUDGET_MAX_TOKENS,
                headers=scenario.call_headers,
            )
        elif scenario.local_model_share and index % 4 in (1, 2):
            spec = CallSpec(
                tenant=tenant,
                stream=stream,
                model="workhorse",
                max_tokens=LOCAL_MAX_TOKENS,
                headers=scenario.call_headers,
            )
        else:
            spec = CallSpec(
                tenant=tenant,
                stream=stream,
                content=f"chaos call {index}",
                headers=scenario.call_headers,
            )
        out.append(spec)
    return out


def wait_until_whole(chaos: ChaosRun) -> None:
    switchyard = chaos.switchyard
    deadline = time.monotonic() + RECOVERY_S
    wait_until_serving(switchyard.url, switchyard.dashboard_url, timeout_s=RECOVERY_S)
    while len(replica_pids(INGRESS_NAME)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    while not healthy(switchyard.url) and time.monotonic() < deadline:
        time.sleep(0.5)


def run_scenario(chaos: ChaosRun, scenario: Scenario) -> Tally:
    switchyard = chaos.switchyard
    switchyard.sandboxes.reset()
    calls = specs(chaos, scenario)
    started = time.monotonic()
    outcomes = asyncio.run(
        run_calls(
            switchyard.url,
            calls,
            chaos.settings.concurrency,
            scenario.during(switchyard),
            headers=chaos.headers,
        )
    )
    load_s = time.monotonic() - started
    switchyard.sandboxes.reset()
    if scenario.kills:
        wait_until_whole(chaos)
    tenants = [chaos.tenant(scenario), chaos.budget_tenant(scenario)]
    rows = wait_for_records(switchyard.ledger_path, tenants, outcomes, LEDGER_WAIT_S)
    result = tally(
        scenario.name,
        outcomes,
        rows,
        budget_tenant=chaos.budget_tenant(scenario),
        budget_usd=chaos.budgets[chaos.budget_tenant(scenario)],
        reservation_usd=chaos.reservation_usd,
    )
    if scenario.after is not None:
        scenario.after(switchyard)
        wait_until_whole(chaos)
    if chaos.settings.report is not None:
        line = {
            **result.as_dict(),
            "what": scenario.what,
            "concurrency": chaos.settings.concurrency,
            "load_s": round(load_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        }
        with chaos.settings.report.open("a") as report:
            report.write(json.dumps(line) + "\n")
    return result


@pytest.mark.parametrize("scenario", selected(), ids=lambda s: s.name.replace(" ", "-"))
def test_no_answered_call_goes_unbooked_and_no_stream_ends_silently(
    chaos: ChaosRun, scenario: Scenario
) -> None:
    result = run_scenario(chaos, scenario)
    summary = json.dumps(result.as_dict())
    assert result.answered > 0, summary
    assert result.answered_without_record == 0, summary
    assert result.counted_twice == 0, summary
    assert result.silent_stream_ends == 0, summary
    assert result.answered_without_call_id == 0, summary
    assert result.overshoot_within_bound, summary
