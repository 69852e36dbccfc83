"""Plan a call: the model a name resolves to, its backup and secondary, less those that can't.

Design §4 step 2. The chain is at most three long and never follows backups of backups. A candidate
is dropped when its provider's breaker is open, the request's privacy forbids it, its context
window is too small for the prompt, it lacks a feature the request uses, its free tier is used up
(its paid twin takes its place), or the budget cannot afford it. Every drop is kept with its reason
for the answer's metadata.

A plan with no candidate left says whose it is to fix (`no_candidates`): when every candidate was
dropped for what the request asks (a feature, a context window, an output limit, privacy, a kind
it lacks) no retry can help, so it is the caller's 400 (`NoCandidateFits`); when any was dropped
for the gateway's state (a breaker open, a model not deployed here or with no running replica)
it is a 503 (`NoCandidates`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from deployments.canonical import ChatRequest, EmbeddingRequest, Skipped
from deployments.errors import NoCandidateFits, NoCandidates, UnknownModel
from directory.errors import UnknownName
from directory.schema import Directory, ModelProfile

Privacy = Literal["any", "local"]
# Why a candidate was dropped: for what the request asks (`request`; `context_length` when the
# prompt and its max_tokens outgrow the window), or for the gateway's state at the time.
Cause = Literal["request", "context_length", "state"]


@dataclass(frozen=True)
class Candidate:
    model: ModelProfile
    substitutes: str | None = None  # the free-tier model this paid twin stands in for


@dataclass(frozen=True)
class Plan:
    name: str  # what the caller asked for
    shortcut: str | None  # the shortcut, when the name was one
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skipped, ...] = ()
    # With no candidate left: whether every one was dropped for what the request asks, and how.
    unfit: Literal["request", "context_length"] | None = None


def no_candidates(plan: Plan) -> NoCandidates:
    """The error for a plan with no candidate: the caller's 400 when the request fits none of
    them, else the 503 of an outage. Either lists every candidate dropped and why."""
    if plan.unfit is None:
        return NoCandidates(plan.name, skipped=plan.skipped)
    code = "context_length_exceeded" if plan.unfit == "context_length" else None
    return NoCandidateFits(plan.name, skipped=plan.skipped, code=code)


@dataclass(frozen=True)
class PlanChecks:
    """The live state the plan consults. Each check is synchronous and O(1): no actor waits."""

    provider_available: Callable[[str], bool] = lambda provider: True
    # Whether this app has a deployment for the model (a cloud provider without a key, or a local
    # model not deployed here, is planned out rather than tried and counted as an outage).
    deployed: Callable[[ModelProfile], bool] = lambda model: True
    # Why the model's deployment cannot take a call now (Serve reports it has lost every
    # replica), or None: planned out like an open breaker, rather than held until a deadline.
    no_replica: Callable[[ModelProfile], str | None] = lambda model: None
    free_tier_left: Callable[[str], bool] = lambda model_id: True
    # Returns a reason when the budget cannot afford a call to this model, else None.
    budget_refusal: Callable[[ModelProfile], str | None] = field(default=lambda model: None)


def plan_call(
    directory: Directory,
    name: str,
    request: ChatRequest | EmbeddingRequest,
    *,
    privacy: Privacy = "any",
    checks: PlanChecks | None = None,
    primary_id: str | None = None,
) -> Plan:
    """The candidates for `request` sent to `name`, in the order to try them. `primary_id`
    overrides the model `name` resolves to (a learned shortcut's per-prompt choice)."""
    checks = checks or PlanChecks()
    try:
        primary = directory.resolve(primary_id or name)
    except UnknownName as unknown:  # the directory's error, as the app answers it: a 404
        raise UnknownModel(name, suggestions=unknown.suggestions) from None
    shortcut = name if name in directory.shortcuts else None
    if shortcut is not None and directory.local_only(shortcut):
        privacy = "local"

    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    causes: set[Cause] = set()
    seen: set[str] = set()
    for model in directory.chain(primary.id):
        candidate = Candidate(model)
        if model.free_tier is not None and not checks.free_tier_left(model.id):
            twin = directory.models[model.free_tier.paid_twin]
            skipped.append(
                Skipped(model=model.id, reason=f"free tier used up; paid twin {twin.id}")
            )
            candidate = Candidate(twin, substitutes=model.id)
        if candidate.model.id in seen:
            continue
        seen.add(candidate.model.id)
        refusal = _refusal(candidate.model, request, privacy, checks)
        if refusal is None and isinstance(request, EmbeddingRequest):
            refusal = _dimension_refusal(candidate.model, primary)
        if refusal is None:
            candidates.append(candidate)
        else:
            reason, cause = refusal
            causes.add(cause)
            skipped.append(Skipped(model=candidate.model.id, reason=reason))
    return Plan(
        name=name,
        shortcut=shortcut,
        candidates=tuple(candidates),
        skipped=tuple(skipped),
        unfit=None if candidates else _unfit(causes),
    )


def _unfit(causes: set[Cause]) -> Literal["request", "context_length"] | None:
    if not causes or "state" in causes:
        return None
    return "context_length" if causes == {"context_length"} else "request"


def _refusal(
    model: ModelProfile,
    request: ChatRequest | EmbeddingRequest,
    privacy: Privacy,
    checks: PlanChecks,
) -> tuple[str, Cause] | None:
    """Why `model` cannot take `request`, and whose that is, or None when it can. What the request
    asks is checked before the gateway's state, so a permanent reason is the one reported."""
    if privacy == "local" and model.privacy != "local":
        return "privacy: local only", "request"
    wanted_kind = "chat" if isinstance(request, ChatRequest) else "embedding"
    if model.kind != wanted_kind:
        return f"is a {model.kind} model, the request needs {wanted_kind}", "request"
    if isinstance(request, ChatRequest):
        refusal = _feature_refusal(model, request)
        if refusal is not None:
            return refusal
    if not checks.deployed(model):
        return "not deployed in this app", "state"
    lost = checks.no_replica(model)
    if lost is not None:
        return lost, "state"
    if not checks.provider_available(model.provider):
        return f"provider {model.provider}: breaker open", "state"
    reason = checks.budget_refusal(model)
    return None if reason is None else (reason, "state")


def _dimension_refusal(model: ModelProfile, primary: ModelProfile) -> tuple[str, Cause] | None:
    """Vectors of another size would not match the caller's index: no failover across sizes."""
    if model.embedding_dimensions != primary.embedding_dimensions:
        reason = (
            f"embeds in {model.embedding_dimensions} dimensions, "
            f"not the {primary.embedding_dimensions} of {primary.id}"
        )
        return reason, "request"
    return None


def _feature_refusal(model: ModelProfile, request: ChatRequest) -> tuple[str, Cause] | None:
    features = model.features
    if request.uses_tools() and not features.tools:
        return "no tool calling", "request"
    if request.uses_json_schema() and not features.json_schema:
        return "no JSON-schema output", "request"
    if request.uses_images() and not features.vision:
        return "no image input", "request"
    limit = model.max_output_tokens
    if request.max_tokens is not None and limit is not None and request.max_tokens > limit:
        # Dropped, not capped: a smaller cap would end the answer sooner than the caller asked.
        return f"max_tokens {request.max_tokens} > its output limit {limit}", "request"
    needed = request.estimated_prompt_tokens() + (request.max_tokens or 0)
    if needed > model.context_window:
        return f"context window {model.context_window} < {needed} tokens needed", "context_length"
    return None
