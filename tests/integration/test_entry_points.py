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


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="temprature"):
        serve_app.complete("fast", MESSAGES, temprature=0.2)
