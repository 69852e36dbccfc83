"""Keys at the HTTP level: the Ingress's own app with auth on, its key table in SQLite on disk,
driven through httpx's ASGI transport (no Ray). The cluster test (tests/integration/test_auth.py)
covers two replicas and revocation across them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from directory.schema import Directory
from serve_app.identity.auth import AuthConfig, Authenticator
from serve_app.identity.book import KeyBook
from serve_app.identity.cache import KeyCache, LocalKeys
from serve_app.identity.keys import key_hash
from serve_app.routing.gateway import Gateway
from serve_app.surfaces.http_api import HttpApi
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger, ScriptedBackends

ADMIN_KEY = "admin-key-for-the-asgi-tests-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
CHAT = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class SpendReplica:
    """Spend as an actor would answer it, recording what it was asked; `broken` raises what a
    dead actor raises through Ray (with the internals an answer must not show)."""

    asked: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)
    broken: bool = False

    def ensure_started(self) -> None:
        pass

    def provider_states(self, directory: Directory) -> list[dict[str, Any]]:
        return []

    async def spend(self, group_by: list[str], filters: dict[str, str]) -> list[dict[str, Any]]:
        if self.broken:
            raise RuntimeError("ActorDiedError: actor 5f3a… pid=4242 ip=10.0.0.7")
        self.asked.append((group_by, filters))
        return []

    async def allowances(self) -> list[dict[str, Any]]:
        return [
            {"kind": "budget", "tenant": "acme", "agent": None},
            {"kind": "budget", "tenant": "globex", "agent": None},
            {"kind": "free_requests", "model": "alpha/free"},
        ]


@dataclass
class App:
    client: httpx.AsyncClient
    ledger: RecordingLedger
    replica: SpendReplica
    authenticator: Authenticator
    asgi: Any  # the app itself, for SDKs that bring their own HTTP client

    async def key(self, **request: Any) -> tuple[str, dict[str, Any]]:
        response = await self.client.post("/v1/admin/keys", json=request, headers=ADMIN)
        assert response.status_code == 201, response.text
        body = response.json()
        return body.pop("key"), body


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    ledger = RecordingLedger()
    gateway = Gateway(mini_directory(), ScriptedBackends(), RecordingHealth(), ledger)
    keys = KeyCache(LocalKeys(KeyBook(tmp_path / "ledger.sqlite")), refresh_s=0.05)
    authenticator = Authenticator(AuthConfig(admin_key_sha256=key_hash(ADMIN_KEY)), keys)
    replica = SpendReplica()
    api = HttpApi(gateway, replica, authenticator=authenticator)
    asgi = api.asgi_app()
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
        yield App(client, ledger, replica, authenticator, asgi)
    await keys.aclose()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/models"),
        ("GET", "/v1/providers"),
        ("GET", "/v1/spend"),
        ("GET", "/v1/admin/keys"),
        ("GET", "/v1/no-such-route"),
    ],
)
@pytest.mark.parametrize("headers", [{}, bearer("sy-made-up"), {"x-api-key": "sy-made-up"}])
async def test_every_route_but_healthz_needs_a_real_key(
    app: App, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await app.client.request(method, path, json=CHAT, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == 401
    assert "sy-made-up" not in response.text
    assert (await app.client.get("/healthz")).status_code == 200


async def test_a_tenant_key_bills_its_tenant_whatever_the_call_says(app: App) -> None:
    key, _record = await app.key(tenant="acme", rpm=10, tpm=5000)
    for headers in (bearer(key), {"x-api-key": key}):
        response = await app.client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert response.status_code == 200, response.text
    assert {r.tenant for r in app.ledger.records} == {"acme"}

    named = {**CHAT, "switchyard": {"tenant": "acme", "agent": "planner"}}
    response = await app.client.post("/v1/chat/completions", json=named, headers=bearer(key))
    assert response.status_code == 200
    assert app.ledger.records[-1].agent == "planner"

    response = await app.client.post(
        "/v1/chat/completions",
        json={**CHAT, "switchyard": {"tenant": "globex"}},
        headers=bearer(key),
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["type"] == "permission_error"
    headers = {**bearer(key), "x-switchyard-tenant": "globex"}
    response = await app.client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 403
    assert {r.tenant for r in app.ledger.records} == {"acme"}


async def test_a_key_bound_to_an_agent_and_models_reaches_only_those(app: App) -> None:
    key, _ = await app.key(tenant="acme", agent="support-bot", models=["smart"])
    ok = await app.client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
    assert ok.status_code == 200 and app.ledger.records[-1].agent == "support-bot"

    other_agent = {**CHAT, "switchyard": {"agent": "planner"}}
    response = await app.client.post("/v1/chat/completions", json=other_agent, headers=bearer(key))
    assert response.status_code == 403
    other_model = {**CHAT, "model": "free"}
    response = await app.client.post("/v1/chat/completions", json=other_model, headers=bearer(key))
    assert response.status_code == 403 and "'free'" in response.json()["error"]["message"]
    models = (await app.client.get("/v1/models", headers=bearer(key))).json()["data"]
    assert [m["id"] for m in models] == ["smart"]


@pytest.mark.parametrize("field", ["tenant", "agent"])
@pytest.mark.parametrize("name", ["planner bot", "x" * 65, "<script>", "acme/../x"])
async def test_malformed_tenant_and_agent_names_are_400(app: App, field: str, name: str) -> None:
    for body, headers in (
        ({**CHAT, "switchyard": {field: name}}, ADMIN),
        (CHAT, {**ADMIN, f"x-switchyard-{field}": name}),
    ):
        response = await app.client.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == field
    assert not app.ledger.records


async def test_names_of_64_characters_are_fine(app: App) -> None:
    name = "a-Z_0.9" + "x" * 57
    body = {**CHAT, "switchyard": {"tenant": name, "agent": name}}
    response = await app.client.post("/v1/chat/completions", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert (app.ledger.records[-1].tenant, app.ledger.records[-1].agent) == (name, name)


async def test_the_admin_key_may_call_as_a_tenant_it_names(app: App) -> None:
    body = {**CHAT, "switchyard": {"tenant": "globex"}}
    response = await app.client.post("/v1/chat/completions", json=body, headers=ADMIN)
    assert response.status_code == 200 and app.ledger.records[-1].tenant == "globex"


async def test_keys_are_shown_once_listed_without_secrets_and_revoked_at_once(app: App) -> None:
    key, record = await app.key(tenant="acme", name="ci")
    assert record["tenant"] == "acme" and record["id"].startswith("key_")

    listed = await app.client.get("/v1/admin/keys", headers=ADMIN)
    assert [k["id"] for k in listed.json()["data"]] == [record["id"]]
    assert key not in listed.text and key_hash(key) not in listed.text

    tenant_tries_admin = await app.client.get("/v1/admin/keys", headers=bearer(key))
    assert tenant_tries_admin.status_code == 403

    revoked = await app.client.delete(f"/v1/admin/keys/{record['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = await app.client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
    assert refused.status_code == 401
    missing = await app.client.delete("/v1/admin/keys/key_nope", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "tenant"), ({"tenant": "a b"}, "tenant"), ({"tenant": "acme", "rpm": 0}, "rpm")],
)
async def test_bad_key_requests_are_400_naming_the_field(
    app: App, body: dict[str, Any], field: str
) -> None:
    response = await app.client.post("/v1/admin/keys", json=body, headers=ADMIN)
    assert response.status_code == 400 and field in response.json()["error"]["message"]


async def test_an_expired_key_is_refused(app: App) -> None:
    key, _ = await app.key(tenant="acme", expires_at=1.0)
    response = await app.client.get("/v1/models", headers=bearer(key))
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


async def test_spend_is_the_tenant_keys_own_and_the_admins_all(app: App) -> None:
    key, _ = await app.key(tenant="acme")
    mine = await app.client.get("/v1/spend", params={"group_by": "agent"}, headers=bearer(key))
    assert mine.status_code == 200
    assert app.replica.asked[-1] == (["agent"], {"tenant": "acme"})
    assert [b["tenant"] for b in mine.json()["budgets"]] == ["acme"]
    assert mine.json()["free_tiers"] == []

    theirs = await app.client.get("/v1/spend", params={"tenant": "globex"}, headers=bearer(key))
    assert theirs.status_code == 403

    everyone = await app.client.get("/v1/spend", headers=ADMIN)
    assert app.replica.asked[-1] == (["tenant"], {})
    assert len(everyone.json()["budgets"]) == 2 and everyone.json()["free_tiers"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("group_by=nope", "group_by"),
        ("planet=mars", "planet"),
        ("since=yesterday", "since"),
        ("tenant=a%20b", "tenant"),
        ("tenant=acme&tenant=globex", "tenant"),
    ],
)
async def test_bad_spend_queries_are_400_naming_the_parameter(
    app: App, query: str, param: str
) -> None:
    response = await app.client.get(f"/v1/spend?{query}", headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert app.replica.asked == []  # refused in the Ingress, never sent to the ledger


async def test_an_actor_failure_answers_503_without_its_internals(app: App) -> None:
    app.replica.broken = True
    response = await app.client.get("/v1/spend", headers=ADMIN)
    assert response.status_code == 503
    for internal in ("pid", "10.0.0.7", "Actor", "5f3a", "Traceback"):
        assert internal not in response.text


async def test_with_auth_off_every_answer_says_so(app: App) -> None:
    app.authenticator.config = AuthConfig(enabled=False)
    for path in ("/v1/models", "/healthz"):
        response = await app.client.get(path)
        assert response.status_code == 200 and response.headers["x-switchyard-auth"] == "off"
    named = {**CHAT, "switchyard": {"tenant": "globex"}}
    chat = await app.client.post("/v1/chat/completions", json=named)
    assert chat.headers["x-switchyard-auth"] == "off" and app.ledger.records[-1].tenant == "globex"
    refused = await app.client.get("/v1/admin/keys")
    assert refused.status_code == 400 and refused.headers["x-switchyard-auth"] == "off"


async def test_with_auth_on_answers_carry_no_auth_off_header(app: App) -> None:
    response = await app.client.get("/v1/models", headers=ADMIN)
    assert "x-switchyard-auth" not in response.headers


MESSAGES = {"model": "smart", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("headers", [{}, {"x-api-key": "sy-made-up"}, bearer("sy-made-up")])
async def test_anthropic_routes_refuse_a_key_in_anthropics_shape(
    app: App, path: str, headers: dict[str, str]
) -> None:
    response = await app.client.post(path, json=MESSAGES, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "sy-made-up" not in response.text
    # A path that only starts like the surface's is not its: OpenAI's shape there.
    other = await app.client.post("/v1/messagesx", json=MESSAGES, headers=headers)
    assert other.status_code == 401 and other.json()["error"]["code"] == 401


async def test_the_anthropic_sdk_raises_its_own_classes_for_401_and_403(app: App) -> None:
    import anthropic
    import httpx2  # the Anthropic SDK's own httpx

    key, _ = await app.key(tenant="acme", agent="support-bot")
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app.asgi))

    def sdk(api_key: str) -> Any:
        return anthropic.AsyncAnthropic(
            api_key=api_key, base_url="http://switchyard", http_client=http, max_retries=0
        )

    request = {"model": "smart", "max_tokens": 64, "messages": MESSAGES["messages"]}
    with pytest.raises(anthropic.AuthenticationError) as refused:
        await sdk("sy-made-up").messages.create(**request)
    body: Any = refused.value.body  # the whole error body, as the server sent it
    assert body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        await sdk(key).messages.create(**request, extra_headers={"x-switchyard-agent": "planner"})
    body = denied.value.body
    assert body["error"]["type"] == "permission_error"
    answer = await sdk(key).messages.create(**request)
    assert answer.content
    await http.aclose()


async def test_end_user_ids_are_not_tenants(app: App) -> None:
    """OpenAI's `user` and Anthropic's `metadata.user_id` carry an app's end-user ids: a tenant
    key's calls with them are served, billed to the key's tenant, and the id is booked nowhere."""
    key, _ = await app.key(tenant="acme")
    chat = {**CHAT, "user": "end-user-globex"}
    served = await app.client.post("/v1/chat/completions", json=chat, headers=bearer(key))
    assert served.status_code == 200, served.text
    messages = {**MESSAGES, "metadata": {"user_id": "end-user-globex"}}
    served = await app.client.post("/v1/messages", json=messages, headers={"x-api-key": key})
    assert served.status_code == 200, served.text
    assert [r.tenant for r in app.ledger.records] == ["acme", "acme"]
    assert "end-user-globex" not in repr(app.ledger.records)
    # Nor do they name a tenant for the admin key (which names one with `switchyard.tenant`).
    served = await app.client.post("/v1/chat/completions", json=chat, headers=ADMIN)
    assert served.status_code == 200 and app.ledger.records[-1].tenant == "default"
