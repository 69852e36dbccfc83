"""The session's Switchyard: the real graph on the session's Ray cluster, against the sandboxes.

Deployed the way an operator deploys it — a Serve config through the dashboard's REST API, as
`serve deploy` does — so the hot-reload test can redeploy it. The directory is the shipped one
with test breaker settings: `mistral` keeps the production threshold (3 failures) with a short
cooldown for the breaker test; every other provider gets a threshold no test reaches, so that
failover tests cannot open a breaker another test relies on. Gemini 2.5 Flash's free tier allows
`FREE_TIER_REQUESTS` a day here, and one tenant (`BUDGET_TENANT`) has a daily budget that affords
ten calls of `budget_request`, for the allowances tests.

Auth is on, as it is by default: the app knows the hash of a session admin key (`ADMIN_KEY`).
A test that speaks HTTP sends `switchyard.admin_headers` (the admin may call as any tenant it
names), or a tenant's own key: `switchyard.tenant_key("acme")` (made once per tenant and limits
through the admin API) / `switchyard.tenant_headers("acme")`; the `tenant_key` fixture is the same
function. Entry points over a Ray handle need no key (inside the cluster).
"""

from __future__ import annotations

import importlib.util
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deployments.canonical import ChatRequest, Message
from deployments.sandbox.server import SandboxSet, start_sandboxes
from directory.loader import SHIPPED, load_directory
from directory.schema import Directory
from serve_app.allowances.calls import CallAllowances
from serve_app.app.builder import APP_NAME, AppArgs, LocalModelOverride, cpu_dev_overrides
from serve_app.app.deploy import deploy, serve_config
from serve_app.identity.keys import key_hash
from tests.conftest import free_port

BREAKER_PROVIDER = "mistral"
BREAKER_COOLDOWN_S = 15.0  # long enough for the test to look while it is open
SANDBOX_KINDS = ("openai", "openai-compatible", "anthropic", "google")
FREE_TIER_MODEL = "google/gemini-2.5-flash-free"  # no other test calls it
FREE_TIER_REQUESTS = 3
BUDGET_TENANT = "budget-for-ten"
# Listed in the tenants config with no budget, so that its calls get metric labels of their own
# (an unlisted tenant is labelled `other`); only the metrics test calls as it.
METRICS_TENANT = "metrics-probe"
BUDGET_SHORTCUT = "fast"
ADMIN_KEY = "sy-admin-test-" + secrets.token_urlsafe(32)  # this session's; never a real secret


def budget_request() -> ChatRequest:
    return ChatRequest(
        model="", messages=[Message(role="user", content="one budgeted call")], max_tokens=200
    )


def budget_for_ten(directory: Directory) -> float:
    """A day's budget that reserves for exactly ten `budget_request`s to BUDGET_SHORTCUT: each
    reserves its estimate at the costliest model of the chain, and what is left over cannot
    cover even the cheapest one."""
    allowances = CallAllowances(None, directory, budget_request(), None, ())
    estimates = [allowances.estimate_usd(model) for model in directory.chain(BUDGET_SHORTCUT)]
    return 10 * max(estimates) + 0.5 * min(estimates)


@dataclass(frozen=True)
class Switchyard:
    url: str  # Serve's HTTP proxy, e.g. http://127.0.0.1:PORT
    dashboard_url: str
    app_args: AppArgs
    directory: Directory
    directory_path: Path
    ledger_path: Path
    http_port: int
    sandboxes: SandboxSet
    admin_key: str = ADMIN_KEY
    _tenant_keys: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_key}"}

    def tenant_key(self, tenant: str, **fields: Any) -> str:
        """A key for `tenant` (with `agent`, `models`, `rpm`, … when given), made through the
        admin API the first time these arguments are asked for, then reused."""
        asked = {"tenant": tenant, **fields}
        cache_key = repr(sorted(asked.items()))
        if cache_key not in self._tenant_keys:
            response = httpx.post(
                f"{self.url}/v1/admin/keys", json=asked, headers=self.admin_headers, timeout=30
            )
            response.raise_for_status()
            self._tenant_keys[cache_key] = str(response.json()["key"])
        return self._tenant_keys[cache_key]

    def tenant_headers(self, tenant: str, **fields: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant_key(tenant, **fields)}"}

    def sandbox_kind(self, model_id: str) -> str:
        return self.directory.providers[self.directory.models[model_id].provider].adapter

    def script(self, model_id: str, **fields: Any) -> None:
        """Script the sandbox that serves `model_id` (by its provider's model name)."""
        model = self.directory.models[model_id]
        self.sandboxes.script(self.sandbox_kind(model_id), model.provider_model, **fields)

    def requests_received(self, model_id: str) -> int:
        model = self.directory.models[model_id]
        stats = self.sandboxes.stats(self.sandbox_kind(model_id))
        return int(stats["requests"].get(model.provider_model, 0))


def write_test_directory(folder: Path) -> Path:
    for name in ("models.yaml", "shortcuts.yaml"):
        shutil.copy(SHIPPED / name, folder / name)
    providers = yaml.safe_load((SHIPPED / "providers.yaml").read_text())
    for provider in providers["providers"]:
        if provider["id"] == BREAKER_PROVIDER:
            provider["breaker"] = {"failure_threshold": 3, "cooldown_s": BREAKER_COOLDOWN_S}
        else:
            provider["breaker"] = {"failure_threshold": 10_000, "cooldown_s": 1}
    (folder / "providers.yaml").write_text(yaml.safe_dump(providers, sort_keys=False))
    models = yaml.safe_load((SHIPPED / "models.yaml").read_text())
    for model in models["models"]:
        if model["id"] == FREE_TIER_MODEL:
            model["free_tier"]["requests_per_day"] = FREE_TIER_REQUESTS
    (folder / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return folder


def serve_details(dashboard_url: str) -> dict[str, Any]:
    """Serve's own view of the apps (what `serve status` shows), from the dashboard's REST API."""
    response = httpx.get(f"{dashboard_url}/api/serve/applications/", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def wait_until_serving(url: str, dashboard_url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            app = serve_details(dashboard_url)["applications"].get(APP_NAME, {})
            if app.get("status") == "RUNNING":
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return
            elif app.get("status") == "DEPLOY_FAILED":
                raise RuntimeError(f"Switchyard failed to deploy: {app.get('message')}")
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Switchyard did not come up at {url}")


def local_models(directory: Directory) -> dict[str, LocalModelOverride]:
    """With vLLM's CPU build installed: the workhorse slot on the tiny model, and the real
    all-MiniLM-L6-v2 behind `embed` configured to scale to zero (so a test can watch it come up
    on a request). Without vLLM, no local model is deployed and their tests skip."""
    if importlib.util.find_spec("vllm") is None:
        return {}
    overrides = cpu_dev_overrides(directory)
    embed = directory.resolved["embed"]
    overrides[embed] = overrides[embed].model_copy(
        update={"autoscaling": {**SCALE_TO_ZERO, "downscale_delay_s": 3600}}
    )
    return overrides


SCALE_TO_ZERO = {"min_replicas": 0, "max_replicas": 1, "target_ongoing_requests": 8}


def session_app_args(
    folder: Path, directory: Directory, sandboxes: SandboxSet, ledger_path: Path, admin_key: str
) -> AppArgs:
    """The session's app: two Ingress replicas, every cloud provider on the sandboxes, the local
    models when vLLM is installed, short sync intervals, auth on with `admin_key`'s hash. The
    soak benchmark (benchmarks/soak.py) starts the same app."""
    local = local_models(directory)
    return AppArgs(
        directory_path=str(folder),
        local_models=list(local),
        local_overrides=local,
        sandbox_urls={kind: sandboxes.url(kind) for kind in SANDBOX_KINDS},
        ledger_path=str(ledger_path),
        ingress={"num_replicas": 2, "num_cpus": 0.1},
        cloud_proxy={"num_replicas": 1, "num_cpus": 0.05},
        health_sync_s=0.05,
        ledger_flush_s=0.1,
        allowance_sync_s=0.05,
        tenants={
            BUDGET_TENANT: {"budget": {"day_usd": budget_for_ten(directory)}},
            METRICS_TENANT: {},
        },
        admin_key_sha256=key_hash(admin_key),
    )


@pytest.fixture(scope="session")
def switchyard(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Switchyard]:
    folder = write_test_directory(tmp_path_factory.mktemp("directory"))
    ledger_path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    http_port = free_port()
    with start_sandboxes() as sandboxes:
        directory = load_directory(folder)
        app_args = session_app_args(folder, directory, sandboxes, ledger_path, ADMIN_KEY)
        deploy(serve_config(app_args, directory, http_port=http_port), ray_cluster)
        url = f"http://127.0.0.1:{http_port}"
        wait_until_serving(url, ray_cluster)
        yield Switchyard(
            url=url,
            dashboard_url=ray_cluster,
            app_args=app_args,
            directory=directory,
            directory_path=folder,
            ledger_path=ledger_path,
            http_port=http_port,
            sandboxes=sandboxes,
        )
        from ray import serve

        serve.shutdown()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def tenant_key(switchyard: Switchyard) -> Any:
    """`tenant_key("acme", agent=..., rpm=...)`: a key for that tenant (see `Switchyard`)."""
    return switchyard.tenant_key


@pytest.fixture
def sandbox_reset(switchyard: Switchyard) -> Iterator[Switchyard]:
    """The session's Switchyard with every sandbox script and counter cleared around the test."""
    switchyard.sandboxes.reset()
    yield switchyard
    switchyard.sandboxes.reset()
