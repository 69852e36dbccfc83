"""No secret in any log, answer or ledger row (issue 11 item 11).

Calls that succeed, fail over, meet a provider's 401, 429 and 500, fail outright, or are malformed
go through the session's Switchyard with a tenant key; then every file of this session's Ray logs,
the ledger's folder (SQLite, its WAL, the replicas' journals) and every answer are searched for the
secrets in play: the provider key each cloud proxy holds and sends (the sandboxes'; the fixture
passes it to the proxies as a production key would come from the environment), the admin key, the
tenant key, and a bearer token of a key that does not exist.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from serve_app.app.builder import SANDBOX_KEY
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray

MESSAGES = [{"role": "user", "content": "Where should this go?"}]
UNKNOWN_KEY = "sy-" + "NotAKeyButShapedLikeOne0123456789abcdefghij"


def _session_log_dir() -> Path:
    """This test session's Ray cluster's log folder (not /tmp/ray/session_latest, which another
    cluster on the machine may have replaced)."""
    import ray

    node = ray._private.worker.global_worker.node
    return Path(node.get_session_dir_path()) / "logs"


def _files_holding(folder: Path, secrets: list[str]) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {s[:6]}…" for s in secrets if s.encode() in data]
    return hits


def test_no_key_in_logs_answers_or_the_ledger(sandbox_reset: Switchyard) -> None:
    url = sandbox_reset.url
    admin_key = sandbox_reset.admin_key
    created = httpx.post(
        f"{url}/v1/admin/keys",
        json={"tenant": "secrets-probe"},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tenant_key = created.json()["key"]
    marker = f"secrets-{uuid.uuid4().hex}"  # the calls' request id, to find their log lines

    answers: list[httpx.Response] = []

    def call(model: str, *, key: str = tenant_key, stream: bool = False, **body: object) -> None:
        answers.append(
            httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": model, "messages": MESSAGES, "stream": stream, **body},
                headers={"Authorization": f"Bearer {key}", "X-Request-Id": marker},
                timeout=60,
            )
        )

    primary, backup, secondary = sandbox_reset.directory.chain("smart")
    call("smart")  # served
    call("smart", stream=True)
    for fault in ("http_500", "http_401", "http_429"):  # each failed over to the backup
        sandbox_reset.script(primary.id, fault=fault, times=1)
        call("smart")
    for model in (primary, backup, secondary):  # every candidate fails: a 502
        sandbox_reset.script(model.id, fault="http_401", times=1)
    call("smart")
    call("smart", messages="not a list")  # malformed: a 400
    call("smart", key=UNKNOWN_KEY)  # no such key: a 401
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 200, 200, 200, 200, 502, 400, 401], [a.text for a in answers]

    secrets = [SANDBOX_KEY, admin_key, tenant_key, UNKNOWN_KEY]
    for answer in answers:
        assert not [s for s in secrets if s in answer.text or s in str(answer.headers)]
    logs = _session_log_dir()
    assert _files_holding(logs, [marker]), "the calls left no log line: nothing was searched"
    assert _files_holding(logs, secrets) == []
    assert _files_holding(sandbox_reset.ledger_path.parent, secrets) == []
