"""A call that ends early is billed (issue 11 item 8), through the gateway with scripted backends.

The prompt "hi there" is 8 characters: 2 tokens at 4 characters a token, and 4 for its message,
so 6 estimated input tokens. alpha/a1 costs $1 in and $4 out per million tokens. The scripted
stream is "hello ", "from ", "a1", then a last chunk with the exact usage (10 in, 3 out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from deployments.canonical import ChatRequest, Message, Usage
from deployments.errors import StreamInterrupted
from deployments.ledger.cost import cost_usd
from serve_app.routing.call import ChatCall
from serve_app.routing.gateway import Gateway
from serve_app.routing.metrics import BufferedMeter
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import (
    USAGE,
    RecordingHealth,
    RecordingLedger,
    ScriptedBackends,
    server_error,
)

ESTIMATED_PROMPT = 6
DIRECTORY = mini_directory()
ALPHA = DIRECTORY.models["alpha/a1"].pricing


def make_gateway(
    backends: ScriptedBackends | None = None,
) -> tuple[Gateway, RecordingLedger, BufferedMeter]:
    ledger, meter = RecordingLedger(), BufferedMeter()
    gateway = Gateway(
        DIRECTORY, backends or ScriptedBackends(), RecordingHealth(), ledger, meter=meter
    )
    return gateway, ledger, meter


def call() -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content="hi there")])
    return ChatCall(name="smart", request=request)


def metered_tokens(meter: BufferedMeter) -> tuple[float, float]:
    counters, _ = meter.drain()
    totals = {"switchyard_input_tokens": 0.0, "switchyard_output_tokens": 0.0}
    for (metric, _tags), value in counters.items():
        if metric in totals:
            totals[metric] += value
    return totals["switchyard_input_tokens"], totals["switchyard_output_tokens"]


async def test_a_stream_closed_after_its_first_chunk_is_billed_as_estimated() -> None:
    gateway, ledger, meter = make_gateway()
    answer = gateway.stream(call())
    assert (await anext(answer)).text == "hello "
    await answer.aclose()  # the caller hangs up

    [record] = ledger.records  # booked now, not when the abandoned stream is collected
    assert (record.outcome, record.estimated) == ("interrupted", True)
    # "hello " (6 characters) is one token; so is the one content chunk delivered.
    assert (record.input_tokens, record.output_tokens) == (ESTIMATED_PROMPT, 1)
    assert record.cost_usd == pytest.approx((ESTIMATED_PROMPT * 1 + 1 * 4) / 1e6)
    route = answer.route
    assert route.usage.estimated and route.cost_usd == record.cost_usd
    # The metrics count the tokens the ledger booked.
    assert metered_tokens(meter) == (ESTIMATED_PROMPT, 1)


async def test_the_providers_count_at_the_start_gives_the_input_of_a_dropped_stream() -> None:
    started = Usage(input_tokens=40, output_tokens=1, cached_input_tokens=30)
    gateway, ledger, _ = make_gateway(ScriptedBackends(usage_so_far=started))
    answer = gateway.stream(call())
    await anext(answer)
    await answer.aclose()

    [record] = ledger.records
    assert record.estimated
    assert (record.input_tokens, record.cached_input_tokens, record.output_tokens) == (40, 30, 1)
    assert record.cost_usd == pytest.approx(cost_usd(started, ALPHA))


async def test_a_stream_the_upstream_cuts_midway_is_billed_for_what_was_delivered() -> None:
    backends = ScriptedBackends(fail_after_chunks={"alpha/a1": (2, server_error("alpha"))})
    gateway, ledger, meter = make_gateway(backends)
    answer = gateway.stream(call())
    received = []
    with pytest.raises(StreamInterrupted):
        async for chunk in answer:
            received.append(chunk.text)
    assert received == ["hello ", "from "]

    [record] = ledger.records
    assert (record.outcome, record.estimated) == ("interrupted", True)
    # 11 characters are 2 tokens, and 2 content chunks went out.
    assert (record.input_tokens, record.output_tokens) == (ESTIMATED_PROMPT, 2)
    assert record.cost_usd == pytest.approx((ESTIMATED_PROMPT * 1 + 2 * 4) / 1e6)
    assert metered_tokens(meter) == (ESTIMATED_PROMPT, 2)


async def test_a_whole_stream_books_the_providers_exact_usage() -> None:
    backends = ScriptedBackends(usage_so_far=Usage(input_tokens=40, output_tokens=1))
    gateway, ledger, _ = make_gateway(backends)
    answer = gateway.stream(call())
    assert "".join([chunk.text async for chunk in answer]) == "hello from a1"

    [record] = ledger.records
    assert (record.outcome, record.estimated) == ("ok", False)
    assert (record.input_tokens, record.output_tokens) == (USAGE.input_tokens, USAGE.output_tokens)
    assert record.cost_usd == pytest.approx(cost_usd(USAGE, ALPHA))
    assert not answer.route.usage.estimated


async def hang_up_while_waiting(backends: ScriptedBackends, waiting: asyncio.Task[Any]) -> None:
    """Cancel `waiting` (the caller hangs up) once the provider has the request."""
    while not backends.calls:
        await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


@pytest.mark.parametrize("streamed", [True, False])
async def test_hanging_up_before_the_first_token_still_bills_the_prompt(streamed: bool) -> None:
    backends = ScriptedBackends(hang={"alpha/a1"})
    gateway, ledger, _ = make_gateway(backends)
    c = call()
    waiting: Awaitable[Any] = anext(gateway.stream(c)) if streamed else gateway.complete(c)
    await hang_up_while_waiting(backends, asyncio.ensure_future(waiting))

    [record] = ledger.records
    assert (record.outcome, record.estimated) == ("interrupted", True)
    assert (record.input_tokens, record.output_tokens) == (ESTIMATED_PROMPT, 0)
    assert record.cost_usd == pytest.approx(ESTIMATED_PROMPT / 1e6)


async def test_a_failed_attempt_before_any_content_bills_nothing() -> None:
    backends = ScriptedBackends(fail_after_chunks={"alpha/a1": (0, server_error("alpha"))})
    gateway, ledger, _ = make_gateway(backends)
    answer = gateway.stream(call())
    assert "".join([chunk.text async for chunk in answer]) == "hello from b1"

    failed, served = ledger.records
    assert (failed.outcome, failed.estimated, failed.cost_usd) == ("failed", False, 0.0)
    assert (served.outcome, served.estimated) == ("ok", False)
