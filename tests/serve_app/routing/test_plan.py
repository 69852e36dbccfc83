"""Planning a call (design §4 step 2) on the fixture directory, with the live checks scripted."""

from __future__ import annotations

import pytest

from deployments.canonical import ChatRequest, EmbeddingRequest, Message, ToolSpec
from deployments.errors import NoCandidateFits, NoCandidates, UnknownModel
from serve_app.routing.plan import Plan, PlanChecks, no_candidates, plan_call
from tests.mini_directory import mini_directory


def request(text: str = "hi there", **fields: object) -> ChatRequest:
    return ChatRequest(model="", messages=[Message(role="user", content=text)], **fields)  # type: ignore[arg-type]


def models(plan: Plan) -> list[str]:
    return [candidate.model.id for candidate in plan.candidates]


def reasons(plan: Plan) -> list[tuple[str, str]]:
    return [(skipped.model, skipped.reason) for skipped in plan.skipped]


def test_a_shortcut_plans_its_model_then_backup_then_secondary() -> None:
    plan = plan_call(mini_directory(), "smart", request())
    assert (plan.name, plan.shortcut) == ("smart", "smart")
    assert models(plan) == ["alpha/a1", "beta/b1", "local/l1"]
    assert plan.skipped == ()


def test_a_model_id_is_no_shortcut() -> None:
    plan = plan_call(mini_directory(), "beta/b1", request())
    assert plan.shortcut is None
    assert models(plan) == ["beta/b1", "alpha/a1", "local/l1"]


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownModel, match="did you mean 'smart'"):
        plan_call(mini_directory(), "smrt", request())


def test_privacy_local_keeps_only_local_models_and_says_why() -> None:
    plan = plan_call(mini_directory(), "smart", request(), privacy="local")
    assert models(plan) == ["local/l1"]
    assert reasons(plan) == [
        ("alpha/a1", "privacy: local only"),
        ("beta/b1", "privacy: local only"),
    ]


def test_a_private_shortcut_is_local_without_being_asked() -> None:
    plan = plan_call(mini_directory(), "private", request())
    assert all(model.startswith("local/") for model in models(plan))


def test_an_unavailable_provider_and_an_undeployed_model_are_planned_out() -> None:
    checks = PlanChecks(
        provider_available=lambda provider: provider != "alpha",
        deployed=lambda model: model.id != "local/l1",
    )
    plan = plan_call(mini_directory(), "smart", request(), checks=checks)
    assert models(plan) == ["beta/b1"]
    assert reasons(plan) == [
        ("alpha/a1", "provider alpha: breaker open"),
        ("local/l1", "not deployed in this app"),
    ]


def test_a_used_up_free_tier_gives_its_place_to_its_paid_twin_once() -> None:
    checks = PlanChecks(free_tier_left=lambda model_id: model_id != "alpha/free")
    plan = plan_call(mini_directory(), "free", request(), checks=checks)
    assert models(plan) == ["alpha/a1", "beta/b1", "local/l1"]
    assert plan.candidates[0].substitutes == "alpha/free"
    assert reasons(plan) == [("alpha/free", "free tier used up; paid twin alpha/a1")]


def test_a_model_without_a_feature_the_request_uses_is_skipped() -> None:
    directory = mini_directory(**{"alpha/a1": {"features": {"tools": False, "streaming": True}}})
    plan = plan_call(directory, "smart", request(tools=[ToolSpec(name="lookup")]))
    assert models(plan) == ["beta/b1", "local/l1"]
    assert reasons(plan) == [("alpha/a1", "no tool calling")]


def test_a_prompt_too_long_for_every_window_leaves_no_candidate() -> None:
    plan = plan_call(mini_directory(), "smart", request("word " * 40_000))
    assert plan.candidates == ()
    assert all(reason.startswith("context window 8192 <") for _, reason in reasons(plan))
    error = no_candidates(plan)
    assert isinstance(error, NoCandidateFits) and error.http_status == 400
    assert error.code == "context_length_exceeded"


def test_max_tokens_over_a_models_output_limit_drops_it_for_one_that_can() -> None:
    directory = mini_directory(**{"beta/b1": {"max_output_tokens": 4096}})
    plan = plan_call(directory, "smart", request(max_tokens=2000))
    assert models(plan) == ["beta/b1"]
    assert reasons(plan) == [
        ("alpha/a1", "max_tokens 2000 > its output limit 1024"),
        ("local/l1", "max_tokens 2000 > its output limit 1024"),
    ]


def test_a_request_no_candidate_fits_is_the_callers_400_not_an_outage() -> None:
    plan = plan_call(mini_directory(), "smart", request(max_tokens=10**12))
    assert plan.candidates == () and plan.unfit == "request"
    error = no_candidates(plan)
    assert isinstance(error, NoCandidateFits) and error.http_status == 400
    assert error.code is None and "max_tokens 1000000000000" in str(error)


def test_no_candidate_is_an_outage_when_any_was_dropped_for_the_gateways_state() -> None:
    # alpha/a1 and local/l1 cannot take the prompt, but beta/b1 could, were its breaker closed:
    # a retry may succeed, so it is the 503 clients and load balancers retry.
    directory = mini_directory(**{"beta/b1": {"context_window": 200_000}})
    checks = PlanChecks(provider_available=lambda provider: provider != "beta")
    plan = plan_call(directory, "smart", request("word " * 40_000), checks=checks)
    assert plan.candidates == () and plan.unfit is None
    error = no_candidates(plan)
    assert type(error) is NoCandidates and error.http_status == 503
    assert ("beta/b1", "provider beta: breaker open") in reasons(plan)


def test_what_the_request_lacks_is_the_reason_given_even_with_the_breaker_open() -> None:
    checks = PlanChecks(provider_available=lambda provider: False)
    plan = plan_call(mini_directory(), "smart", request(max_tokens=5000), checks=checks)
    assert plan.unfit == "request"
    assert {reason for _, reason in reasons(plan)} == {"max_tokens 5000 > its output limit 1024"}


def test_the_budget_refuses_by_model_with_its_reason() -> None:
    checks = PlanChecks(
        budget_refusal=lambda model: "budget: tenant acme day" if model.privacy == "cloud" else None
    )
    plan = plan_call(mini_directory(), "smart", request(), checks=checks)
    assert models(plan) == ["local/l1"]
    assert [reason for _, reason in reasons(plan)] == ["budget: tenant acme day"] * 2


def test_an_embedding_request_is_not_planned_onto_chat_models() -> None:
    embedding = EmbeddingRequest(model="", inputs=["a text"])
    plan = plan_call(mini_directory(), "smart", embedding)
    assert plan.candidates == ()
    assert reasons(plan)[0] == ("alpha/a1", "is a chat model, the request needs embedding")
