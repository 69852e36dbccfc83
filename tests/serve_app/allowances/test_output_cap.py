"""Reservations hold: the `max_tokens` a provider is sent is the output the call's budget
reservation assumed at that model, so no attempt can cost more than was reserved. Without Ray."""

from __future__ import annotations

import pytest

from deployments.canonical import ChatRequest, Message
from serve_app.allowances.actor import Allowances
from serve_app.allowances.calls import DEFAULT_OUTPUT_TOKENS
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from tests.mini_directory import mini_directory
from tests.serve_app.allowances.test_gateway_allowances import Replica, local_down
from tests.serve_app.fakes import RecordingLedger, ScriptedBackends, server_error

PROMPT_TOKENS = 6  # "hi there", as the reservation estimates it


def chat(max_tokens: int | None = None, tenant: str = "acme") -> ChatCall:
    request = ChatRequest(
        model="", messages=[Message(role="user", content="hi there")], max_tokens=max_tokens
    )
    return ChatCall(name="smart", request=request, options=CallOptions(tenant=tenant))


def estimate_at_alpha(output_tokens: int) -> float:
    """alpha/a1 costs $1 in / $4 out per Mtok (tests/mini_directory.py)."""
    return (PROMPT_TOKENS * 1 + output_tokens * 4) / 1e6


@pytest.mark.parametrize(
    ("estimate", "sent"),
    [(300, 300), (5000, 1024)],  # alpha/a1's output limit is 1,024
    ids=["the tenant's estimate", "capped by the model's output limit"],
)
async def test_a_call_without_max_tokens_is_sent_the_cap_its_reservation_assumed(
    estimate: int, sent: int
) -> None:
    tenants = {"acme": {"budget": {"day_usd": 1.0}, "output_tokens_estimate": estimate}}
    replica = Replica(Allowances(), tenants, health=local_down())
    await replica.sync()
    before = replica.leases.available("budget:acme:day")
    chunks = replica.gateway.stream(chat())
    assert (await anext(chunks)).text
    # Mid-call, the budget holds the estimate at exactly the cap the provider was sent.
    reserved = before - replica.leases.available("budget:acme:day")
    assert replica.backends.calls == [("alpha/a1", "a1")]
    assert replica.backends.max_tokens == [sent]
    assert reserved == pytest.approx(estimate_at_alpha(sent))
    await chunks.aclose()


async def test_a_whole_answer_without_max_tokens_is_sent_the_tenants_estimate() -> None:
    tenants = {"acme": {"output_tokens_estimate": 256}}
    replica = Replica(Allowances(), tenants, health=local_down())
    await replica.sync()
    await replica.gateway.complete(chat())
    assert replica.backends.max_tokens == [256]


async def test_a_callers_max_tokens_is_sent_as_given_on_every_attempt() -> None:
    failing = ScriptedBackends(failures={"alpha/a1": [server_error("alpha")]})
    replica = Replica(Allowances(), {"acme": {"output_tokens_estimate": 256}}, failing)
    await replica.sync()
    await replica.gateway.complete(chat(max_tokens=77))  # fails over from alpha/a1 to beta/b1
    assert replica.backends.calls == [("alpha/a1", "a1"), ("beta/b1", "b1")]
    assert replica.backends.max_tokens == [77, 77]


async def test_a_bare_gateway_sends_the_same_default_cap_as_one_with_budgets() -> None:
    directory = mini_directory(**{"alpha/a1": {"max_output_tokens": 8192}})
    backends = ScriptedBackends()
    gateway = Gateway(directory, backends, local_down(), RecordingLedger())
    await gateway.complete(chat(tenant="anyone"))
    await gateway.complete(chat(max_tokens=4000, tenant="anyone"))
    assert backends.max_tokens == [DEFAULT_OUTPUT_TOKENS, 4000]
