"""The routing rules of design §4, through the gateway with scripted backends (no Ray)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.canonical import ChatRequest, Message, ToolSpec
from deployments.errors import (
    AllCandidatesFailed,
    CallerError,
    ContextLengthExceeded,
    NoCandidates,
    StreamInterrupted,
    UnknownModel,
)
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import (
    RecordingHealth,
    RecordingLedger,
    ScriptedBackends,
    server_error,
)


def make_gateway(
    backends: ScriptedBackends | None = None, health: RecordingHealth | None = None
) -> tuple[Gateway, ScriptedBackends, RecordingHealth, RecordingLedger]:
    backends = backends or ScriptedBackends()
    health = health or RecordingHealth()
    ledger = RecordingLedger()
    return Gateway(mini_directory(), backends, health, ledger), backends, health, ledger


def call(name: str = "smart", text: str = "hi there", **options: object) -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content=text)])
    return ChatCall(name=name, request=request, options=CallOptions(**options))  # type: ignore[arg-type]


async def test_shortcut_served_by_its_model_under_the_providers_own_name() -> None:
    gateway, backends, _, ledger = make_gateway()
    c = call()
    answer = await gateway.complete(c)
    result, route = answer.result, answer.route
    assert result.text == "hello from a1"
    assert (route.model, route.provider, route.shortcut) == ("alpha/a1", "alpha", "smart")
    assert backends.calls == [("alpha/a1", "a1")]
    assert [(r.attempt, r.outcome, r.model) for r in ledger.records] == [(1, "ok", "alpha/a1")]
    # 10 input tokens at $1/Mtok + 3 output tokens at $4/Mtok.
    assert ledger.records[0].cost_usd == pytest.approx(10e-6 + 12e-6)


async def test_fails_over_to_backup_then_secondary() -> None:
    backends = ScriptedBackends(
        failures={"alpha/a1": [server_error("alpha")], "beta/b1": [server_error("beta")]}
    )
    gateway, _, health, ledger = make_gateway(backends)
    c = call()
    answer = await gateway.complete(c)
    result, route = answer.result, answer.route
    assert result.text == "hello from l1"
    assert [a.model for a in route.attempts] == ["alpha/a1", "beta/b1", "local/l1"]
    assert [a.outcome for a in route.attempts] == ["failed", "failed", "ok"]
    assert health.outcomes == [("alpha", False), ("beta", False), ("local", True)]
    assert [(r.call_id, r.attempt) for r in ledger.records] == [
        (route.call_id, 1),
        (route.call_id, 2),
        (route.call_id, 3),
    ]


async def test_hard_error_lists_every_attempt() -> None:
    backends = ScriptedBackends(
        failures={m: [server_error(m.split("/")[0])] for m in ("alpha/a1", "beta/b1", "local/l1")}
    )
    gateway, _, _, ledger = make_gateway(backends)
    with pytest.raises(AllCandidatesFailed) as caught:
        await gateway.complete(call())
    error = caught.value
    assert error.http_status == 502
    assert [(a.model, a.error_kind, a.status) for a in error.attempts] == [
        ("alpha/a1", "ProviderServerError", 500),
        ("beta/b1", "ProviderServerError", 500),
        ("local/l1", "ProviderServerError", 500),
    ]
    assert [r.outcome for r in ledger.records] == ["failed"] * 3


async def test_callers_error_is_not_failed_over() -> None:
    backends = ScriptedBackends(
        failures={"alpha/a1": [CallerError("bad tool schema", provider="alpha", status=400)]}
    )
    gateway, _, health, ledger = make_gateway(backends)
    with pytest.raises(CallerError):
        await gateway.complete(call())
    assert [m for m, _ in backends.calls] == ["alpha/a1"]
    assert health.outcomes == []  # the provider did nothing wrong
    assert [r.outcome for r in ledger.records] == ["caller_error"]


async def test_context_length_error_fails_over_without_counting_against_the_provider() -> None:
    too_long = ContextLengthExceeded("prompt is too long", provider="alpha", status=400)
    gateway, _, health, _ = make_gateway(ScriptedBackends(failures={"alpha/a1": [too_long]}))
    route = (await gateway.complete(call())).route
    assert route.model == "beta/b1"
    assert health.outcomes == [("beta", True)]


async def test_open_breaker_skips_the_provider_and_says_why() -> None:
    gateway, backends, _, _ = make_gateway(health=RecordingHealth(down={"alpha"}))
    route = (await gateway.complete(call())).route
    assert route.model == "beta/b1"
    assert [(s.model, s.reason) for s in route.skipped] == [
        ("alpha/a1", "provider alpha: breaker open")
    ]
    assert [m for m, _ in backends.calls] == ["beta/b1"]


async def test_privacy_local_never_reaches_a_cloud_model_even_when_locals_fail() -> None:
    backends = ScriptedBackends(
        failures={m: [server_error("local")] * 2 for m in ("local/l1", "local/l2", "local/l3")}
    )
    gateway, _, _, _ = make_gateway(backends)
    with pytest.raises(AllCandidatesFailed) as caught:
        await gateway.complete(call("local/l1", privacy="local"))
    assert [a.model for a in caught.value.attempts] == ["local/l1", "local/l2", "local/l3"]
    # `smart` is a cloud chain with a local secondary: privacy keeps only that one.
    with pytest.raises(AllCandidatesFailed) as caught:
        await gateway.complete(call("smart", privacy="local"))
    assert [a.model for a in caught.value.attempts] == ["local/l1"]
    assert [(s.model, s.reason) for s in caught.value.skipped] == [
        ("alpha/a1", "privacy: local only"),
        ("beta/b1", "privacy: local only"),
    ]
    assert all(model.startswith("local/") for model, _ in backends.calls)


async def test_private_shortcut_is_local_without_asking() -> None:
    backends = ScriptedBackends(
        failures={m: [server_error("local")] for m in ("local/l1", "local/l2", "local/l3")}
    )
    gateway, _, _, _ = make_gateway(backends)
    with pytest.raises(AllCandidatesFailed) as caught:
        await gateway.complete(call("private"))
    assert {a.provider for a in caught.value.attempts} == {"local"}


async def test_unknown_name_suggests_the_closest() -> None:
    gateway, _, _, _ = make_gateway()
    with pytest.raises(UnknownModel) as caught:
        await gateway.complete(call("smrt"))
    assert caught.value.suggestions[0] == "smart"
    assert caught.value.http_status == 404


async def test_too_long_prompt_and_missing_features_are_planned_out() -> None:
    gateway, backends, _, _ = make_gateway()
    long_prompt = "word " * 40_000  # ~50k tokens by the planner's estimate; windows are 8192
    with pytest.raises(NoCandidates) as caught:
        await gateway.complete(call(text=long_prompt))
    assert all("context window 8192" in s.reason for s in caught.value.skipped)

    no_tools = mini_directory(
        **{"alpha/a1": {"features": {"tools": False, "json_schema": True, "streaming": True}}}
    )
    gateway.use_directory(no_tools)
    request = ChatRequest(
        model="",
        messages=[Message(role="user", content="weather?")],
        tools=[ToolSpec(name="get_weather")],
    )
    route = (await gateway.complete(ChatCall(name="smart", request=request))).route
    assert route.model == "beta/b1"
    assert route.skipped[0].reason == "no tool calling"
    assert backends.calls == [("beta/b1", "b1")]


async def test_stream_fails_over_before_the_first_content_chunk() -> None:
    backends = ScriptedBackends(fail_after_chunks={"alpha/a1": (0, server_error("alpha"))})
    gateway, _, _, _ = make_gateway(backends)
    answer = gateway.stream(call())
    text = "".join([chunk.text async for chunk in answer])
    assert text == "hello from b1"
    assert answer.route.model == "beta/b1"
    assert [a.outcome for a in answer.route.attempts] == ["failed", "ok"]


async def test_stream_cut_after_content_ends_with_an_error_and_books_partial_usage() -> None:
    backends = ScriptedBackends(fail_after_chunks={"alpha/a1": (2, server_error("alpha"))})
    gateway, _, health, ledger = make_gateway(backends)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in gateway.stream(call()):
            received.append(chunk.text)
    assert received == ["hello ", "from "]
    assert [m for m, _ in backends.calls] == ["alpha/a1"]  # no failover once content went out
    assert [r.outcome for r in ledger.records] == ["interrupted"]
    assert health.outcomes == [("alpha", False)]


async def test_the_callers_own_deadline_fails_over_but_opens_no_breaker() -> None:
    gateway, _, health, ledger = make_gateway(ScriptedBackends(hang={"alpha/a1"}))
    route = (await gateway.complete(call(first_token_s=1.0))).route
    assert [(a.model, a.error_kind) for a in route.attempts] == [
        ("alpha/a1", "CallerDeadline"),
        ("beta/b1", None),
    ]
    # alpha's hang ran into the caller's 1 s, not alpha's own limit: nothing against alpha.
    assert health.outcomes == [("beta", True)]
    assert [(r.outcome, r.error_kind) for r in ledger.records] == [
        ("failed", "CallerDeadline"),
        ("ok", None),
    ]


async def test_a_caller_deadline_below_the_floor_is_refused() -> None:
    with pytest.raises(ValidationError, match="first_token_s"):
        call(first_token_s=0.5)


async def test_a_model_not_deployed_here_is_planned_out_not_counted_as_an_outage() -> None:
    gateway, _, health, _ = make_gateway(ScriptedBackends(undeployed={"alpha/a1"}))
    route = (await gateway.complete(call())).route
    assert route.model == "beta/b1"
    assert [(s.model, s.reason) for s in route.skipped] == [
        ("alpha/a1", "not deployed in this app")
    ]
    assert health.outcomes == [("beta", True)]


async def test_a_notice_for_the_serving_model_is_in_the_route() -> None:
    gateway = Gateway(
        mini_directory(),
        ScriptedBackends(),
        RecordingHealth(),
        RecordingLedger(),
        notices={"alpha/a1": "development stand-in"},
    )
    route = (await gateway.complete(call())).route
    assert route.notice == "development stand-in"
