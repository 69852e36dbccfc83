"""The load generator against the OpenAI sandbox over loopback, and its summary."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deployments.sandbox.server import SandboxSet, start_sandboxes
from serve_app.load.generator import LoadTarget, Outcome, run_load
from serve_app.load.shapes import Arrival, Steady, schedule
from serve_app.load.summary import percentile, summarise


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


async def test_streamed_calls_are_timed_and_failures_counted_by_status(
    sandboxes: SandboxSet,
) -> None:
    sandboxes.script("openai", "steady-model", ttft_ms=20, tokens_per_s=2000)
    sandboxes.script("openai", "broken-model", fault="http_503")
    url = sandboxes.root_url("openai")
    arrivals = schedule(Steady(rate=20, duration_s=0.5), arrivals="even")
    good = await run_load(LoadTarget(url=url, model="steady-model"), arrivals)
    bad = await run_load(LoadTarget(url=url, model="broken-model", stream=False), arrivals)

    summary = summarise(good.outcomes, duration_s=0.5, wall_s=good.wall_s)
    assert (summary.sent, summary.answered, summary.failed) == (10, 10, {})
    assert summary.ttft_p50_s is not None and summary.ttft_p50_s >= 0.02
    assert summary.latency_p99_s is not None and summary.latency_p99_s >= summary.ttft_p50_s
    failed = summarise(bad.outcomes, duration_s=0.5, wall_s=bad.wall_s)
    assert (failed.answered, failed.failed) == (0, {"503": 10})
    assert sandboxes.stats("openai")["requests"]["broken-model"] == 10


async def test_arrivals_do_not_wait_for_answers(sandboxes: SandboxSet) -> None:
    # Each answer takes 0.5 s; ten calls due within 0.1 s are all in flight together.
    sandboxes.script("openai", "slow-model", latency_ms=500)
    arrivals = [Arrival(at_s=i * 0.01, prompt_tokens=5, output_tokens=5) for i in range(10)]
    state = await run_load(
        LoadTarget(url=sandboxes.root_url("openai"), model="slow-model"), arrivals
    )
    sent = sorted(o.sent_s for o in state.outcomes)
    answered_first = min(o.sent_s + o.latency_s for o in state.outcomes)
    assert sent[-1] < answered_first  # the last call went out before the first answer came


async def test_the_key_goes_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    arrivals = [Arrival(at_s=0, prompt_tokens=3, output_tokens=3)]
    target = LoadTarget(url="http://switchyard.test", key="sy-secret", stream=False)
    state = await run_load(target, arrivals, transport=httpx.MockTransport(handler))
    assert seen == ["Bearer sy-secret"]
    assert [o.status for o in state.outcomes] == ["401"]


def test_percentile_is_a_measured_value() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([1.0, 10.0], 99) == 10.0


def test_achieved_rate_is_over_the_schedule_at_least() -> None:
    outcomes = [Outcome(due_s=0, sent_s=0, status="200", latency_s=0.1, ttft_s=None)] * 4
    assert summarise(outcomes, duration_s=2, wall_s=1).achieved_rate == 2
    assert summarise(outcomes, duration_s=2, wall_s=4).achieved_rate == 1
