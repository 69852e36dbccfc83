# %% [markdown]
# # Trying routes against the sandbox providers
#
# This notebook starts Switchyard on a local Ray cluster against the **sandbox providers**
# (loopback servers that speak the OpenAI, Anthropic and Gemini protocols: every answer below is
# generated locally, no cloud is called), sends calls through shortcuts with the three entry
# points, breaks a provider on purpose and watches the failover, the circuit breaker and the
# ledger.

# %%
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from ray import serve

import serve_app
from deployments.sandbox.server import start_sandboxes
from directory.loader import load_directory
from serve_app.app.builder import APP_NAME, AppArgs, build_app
from serve_app.dev.local_cluster import start_local_cluster
from serve_app.identity.keys import key_hash

sandboxes = start_sandboxes()
url = start_local_cluster(http_port=8123)
ledger = Path(tempfile.mkdtemp()) / "ledger.sqlite"
# Auth is on: this notebook's own admin key (the app gets only its hash). Calls through a Ray
# handle, as below, come from inside the cluster and need none; HTTP calls send it.
admin_key = "sy-notebook-admin-" + secrets.token_urlsafe(24)
admin = {"authorization": f"Bearer {admin_key}"}
app_args = AppArgs(
    sandbox_urls={
        k: sandboxes.url(k) for k in ("openai", "openai-compatible", "anthropic", "google")
    },
    ledger_path=str(ledger),
    admin_key_sha256=key_hash(admin_key),
)
serve.run(build_app(app_args), name=APP_NAME, route_prefix="/")
directory = load_directory()
print("Switchyard at", url)

# %% [markdown]
# ## One call, three ways
#
# `complete` blocks, `acomplete` is awaited, `stream` yields chunks. Inside the Ray cluster (as
# here) they go through a Serve handle; elsewhere over HTTP. Each answer says which model served.

# %%
messages = [{"role": "user", "content": "Suggest a name for a routing gateway."}]
answer = await serve_app.acomplete("fast", messages, tenant="notebook", agent="namer")
print(answer.route.model, "→", answer.text)

chunks = serve_app.stream("smart", messages, tenant="notebook", agent="namer")
print("".join([chunk.text async for chunk in chunks]))
print("served by", chunks.route.model, f"cost ${chunks.route.cost_usd:.6f}")

# %% [markdown]
# ## Failover: the primary of `smart` answers 500
#
# The sandbox is scripted to fail the primary once; the call goes to the backup, and the answer
# lists both attempts.

# %%
primary = directory.resolve("smart")
sandboxes.script(
    directory.providers[primary.provider].adapter, primary.provider_model, fault="http_500", times=1
)
answer = await serve_app.acomplete("smart", messages, tenant="notebook", agent="namer")
for attempt in answer.route.attempts:
    print(
        f"{attempt.model:32} {attempt.outcome:8} {attempt.error_kind or ''} {attempt.status or ''}"
    )

# %% [markdown]
# ## The circuit breaker
#
# Three consecutive failures of a provider open its breaker for the whole cluster; requests then
# skip it (and say so) until a probe succeeds after the cooldown.

# %%
mistral = [m for m in directory.models.values() if m.provider == "mistral"]
for model in mistral:
    sandboxes.script("openai-compatible", model.provider_model, fault="http_503")
for _ in range(3):
    answer = await serve_app.acomplete("mistral/mistral-large-3", messages)
    print("served by", answer.route.model)
time.sleep(0.5)  # the replicas learn of the open breaker in the background
state = next(
    p
    for p in httpx.get(f"{url}/v1/providers", headers=admin).json()["data"]
    if p["id"] == "mistral"
)
print("mistral breaker:", state["state"], "after", state["consecutive_failures"], "failures")
answer = await serve_app.acomplete("mistral/mistral-large-3", messages)
print("skipped:", [(s.model, s.reason) for s in answer.route.skipped])
sandboxes.reset()

# %% [markdown]
# ## What it cost
#
# Every attempt is a row in the SQLite ledger; `/v1/spend` groups them.

# %%
time.sleep(1)  # the ledger is written in the background
for row in httpx.get(f"{url}/v1/spend", params={"group_by": "model"}, headers=admin).json()["data"]:
    print(
        f"{row['group']['model']:36} requests {row['requests']:3}  failed {row['failed']:2}  ${row['cost_usd']:.6f}"
    )

# %%
serve.shutdown()
import ray

ray.shutdown()
sandboxes.stop()
