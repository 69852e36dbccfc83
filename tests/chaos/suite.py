"""The chaos suite's settings and its cluster: the integration tests' session Switchyard
(tests/integration/conftest.py: two Ingress replicas, the sandboxes, the local models when vLLM is
installed), with a day budget for each scenario's budget tenant.

The suite's test module is tests/integration/test_chaos.py, beside that session fixture: a
second copy of the fixture (a conftest here importing it) would deploy the app a second time in
one pytest session, on another HTTP port, which a running Serve instance does not take.

Its size comes from the environment, so that `make test` runs a short version and
`python -m benchmarks.chaos` the full one on the same code:

- `CHAOS_CALLS` (default 120) calls per scenario, `CHAOS_CONCURRENCY` (default 40) at a time;
- `CHAOS_SCENARIOS`: `short` (default: the CI set, `SHORT`), `all`, or names joined by commas;
- `CHAOS_REPORT`: a JSON-lines file each scenario's tally is appended to.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from deployments.canonical import ChatRequest, Message
from directory.schema import Directory
from serve_app.allowances.calls import CallAllowances
from serve_app.allowances.tenants import TenantConfig
from serve_app.app.builder import APP_NAME
from serve_app.app.deploy import deploy, serve_config
from tests.chaos.faults import Scenario, scenarios
from tests.integration.conftest import Switchyard, serve_details, wait_until_serving

# The CI set: one scenario of each kind of harm (a provider error failed over, a hang, a stream
# cut after content, the process holding the connections, the actor holding the money, the disk).
SHORT = (
    "sandbox http_500",
    "sandbox hang",
    "sandbox cut_stream_after_n_chunks",
    "kill Ingress replica",
    "kill CostLedger",
    "kill Allowances",
    "disk full",
)
BUDGET_PROMPT = "one budgeted chaos call"
BUDGET_MAX_TOKENS = 200


@dataclass(frozen=True)
class ChaosSettings:
    calls: int
    concurrency: int
    report: Path | None


def settings() -> ChaosSettings:
    report = os.environ.get("CHAOS_REPORT")
    return ChaosSettings(
        calls=int(os.environ.get("CHAOS_CALLS", "120")),
        concurrency=int(os.environ.get("CHAOS_CONCURRENCY", "40")),
        report=Path(report) if report else None,
    )


def selected() -> list[Scenario]:
    wanted = os.environ.get("CHAOS_SCENARIOS", "short")
    every = scenarios()
    if wanted == "all":
        return every
    names = SHORT if wanted == "short" else tuple(n.strip() for n in wanted.split(","))
    unknown = set(names) - {s.name for s in every}
    if unknown:
        raise ValueError(f"unknown chaos scenarios {sorted(unknown)}")
    return [s for s in every if s.name in names]


def budget_request() -> ChatRequest:
    return ChatRequest(
        model="",
        messages=[Message(role="user", content=BUDGET_PROMPT)],
        max_tokens=BUDGET_MAX_TOKENS,
    )


def reservation_usd(directory: Directory) -> float:
    """What one budgeted call reserves: its estimate at the costliest model of `fast`'s chain."""
    allowances = CallAllowances(None, directory, budget_request(), None, ())
    return max(allowances.estimate_usd(model) for model in directory.chain("fast"))


@dataclass(frozen=True)
class ChaosRun:
    switchyard: Switchyard
    settings: ChaosSettings
    run_id: str
    budgets: dict[str, float]  # budget tenant -> its day budget
    reservation_usd: float
    # Sent with every call: the session's admin key, which may call as any tenant it names.
    headers: dict[str, str]

    def tenant(self, scenario: Scenario) -> str:
        return f"chaos-{self.run_id}-{scenario.name.replace(' ', '-')}"

    def budget_tenant(self, scenario: Scenario) -> str:
        return self.tenant(scenario) + "-budget"


def _deployed_at(dashboard_url: str) -> float:
    return float(serve_details(dashboard_url)["applications"][APP_NAME]["last_deployed_time_s"])


def chaos_run(switchyard: Switchyard) -> Iterator[ChaosRun]:
    """The session's Switchyard with a day budget for each scenario's budget tenant: a quarter of
    a scenario's calls are that tenant's, and the budget affords half of them, so it runs out
    while the fault is on. Tenants travel in the Ingress's user_config: a hot reload."""
    run = settings()
    run_id = uuid.uuid4().hex[:6]
    reservation = reservation_usd(switchyard.directory)
    affordable = max(1, run.calls // 8)
    budget = affordable * reservation + 0.5 * reservation
    chaos_run = ChaosRun(switchyard, run, run_id, {}, reservation, switchyard.admin_headers)
    for scenario in scenarios():
        chaos_run.budgets[chaos_run.budget_tenant(scenario)] = budget
    tenants = dict(switchyard.app_args.tenants)
    tenants.update(
        {
            name: TenantConfig.model_validate({"budget": {"day_usd": day}})
            for name, day in chaos_run.budgets.items()
        }
    )
    before = _deployed_at(switchyard.dashboard_url)
    args = switchyard.app_args.model_copy(update={"tenants": tenants})
    deploy(
        serve_config(args, switchyard.directory, http_port=switchyard.http_port),
        switchyard.dashboard_url,
    )
    deadline = time.monotonic() + 120
    while _deployed_at(switchyard.dashboard_url) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    wait_until_serving(switchyard.url, switchyard.dashboard_url)
    yield chaos_run
    # Leave the session's app as the other tests expect it (their budgets, their limits).
    deploy(
        serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port),
        switchyard.dashboard_url,
    )
    wait_until_serving(switchyard.url, switchyard.dashboard_url)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
