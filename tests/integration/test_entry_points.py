"""`stream`, `acomplete` and `complete`: through handles from another Ray job, and over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray

import serve_app
from deployments.errors import AllCandidatesFailed
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray

MESSAGES = [{"role": "user", "content": "hello from another Ray job"}]


def test_a_separate_ray_job_gets_answers_through_all_three_entry_points(
    switchyard: Switchyard,
) -> None:
    env = {
        **os.environ,
        "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    env.pop("SWITCHYARD_URL", None)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("driver.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    fast = switchyard.directory.resolve("fast").id
    texts = {results[name][0] for name in ("complete", "acomplete", "stream")}
    assert len(texts) == 1 and texts.pop()  # deterministic sandbox: one and the same answer
    assert {results[name][1] for name in ("complete", "acomplete", "stream")} == {fast}


def test_the_same_calls_work_over_http(
    switchyard: Switchyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_URL", switchyard.url)
    monkeypatch.setenv("SWITCHYARD_API_KEY", switchyard.admin_key)
    blocking = serve_app.complete("fast", MESSAGES, tenant="http-client", max_tokens=50)
    assert blocking.route.model == switchyard.directory.resolve("fast").id
    assert blocking.text and blocking.usage.output_tokens > 0

    async def streamed() -> tuple[str, str | None]:
        chunks = serve_app.stream("fast", MESSAGES, tenant="http-client", max_tokens=50)
        text = "".join([chunk.text async for chunk in chunks])
        return text, chunks.route.model if chunks.route else None

    import asyncio

    text, model = asyncio.run(streamed())
    assert (text, model) == (blocking.text, blocking.route.model)


def test_a_failed_call_raises_the_same_error_through_a_handle_and_over_http(
    sandbox_reset: Switchyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same Switchyard class, status and attempts, whichever way the call went: unwrapped
    from Ray's RayTaskError on the handle, rebuilt from the error body over HTTP."""
    chain = sandbox_reset.directory.chain("smart")
    caught: dict[str, AllCandidatesFailed] = {}
    monkeypatch.delenv("SWITCHYARD_URL", raising=False)  # this process is in the cluster: a handle
    for transport in ("handle", "http"):
        if transport == "http":
            monkeypatch.setenv("SWITCHYARD_URL", sandbox_reset.url)
            monkeypatch.setenv("SWITCHYARD_API_KEY", sandbox_reset.admin_key)
        for model in chain:
            sandbox_reset.script(model.id, fault="http_500", times=1)
        with pytest.raises(AllCandidatesFailed) as error:
            serve_app.complete("smart", MESSAGES, tenant="one-error")
        caught[transport] = error.value
    expected = [(m.id, m.provider, "ProviderServerError", 500) for m in chain]
    for transport, error in caught.items():
        assert type(error) is AllCandidatesFailed, transport
        assert error.http_status == 502
        assert [(a.model, a.provider, a.error_kind, a.status) for a in error.attempts] == expected
        route = serve_app.route_of(error)
        assert route is not None and len(route.attempts) == len(chain), transport


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="temprature"):
        serve_app.complete("fast", MESSAGES, temprature=0.2)
