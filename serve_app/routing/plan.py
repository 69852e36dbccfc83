"""Plan a call: the model a name resolves to, its backup and secondary, less those that can't.

Design §4 step 2. The chain is at most three long and never follows backups of backups. A candidate
is dropped when its provider's breaker is open, the request's privacy forbids it, its context
window is too small for the prompt, it lacks a feature the request uses, its free tier is used up
(its paid twin takes its place), or the budget cannot afford it. Every drop is kept with its reason
for the answer's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from deployments.canonical import ChatRequest, EmbeddingRequest, Skipped
from deployments.errors import UnknownModel
from directory.errors import UnknownName
from directory.schema import Directory, ModelProfile

Privacy = Literal["any", "local"]


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


@dataclass(frozen=True)
class PlanChecks:
    """The live state the plan consults. Each check is synchronous and O(1): no actor waits."""

    provider_available: Callable[[str], bool] = lambda provider: True
    # Whether this app has a deployment for the model (a cloud provider without a key, or a local
    # model not deployed here, is planned out rather than tried and counted as an outage).
    deployed: Callable[[ModelProfile], bool] = lambda model: True
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
) -> Plan:
    """The candidates for `request` sent to `name`, in the order to try them."""
    checks = checks or PlanChecks()
    try:
        primary = directory.resolve(name)
    except UnknownName as unknown:  # the directory's error, as the app answers it: a 404
        raise UnknownModel(name, suggestions=unknown.suggestions) from None
    shortcut = name if name in directory.shortcuts else None
    if shortcut is not None and directory.local_only(shortcut):
        privacy = "local"

    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
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
        reason = _refusal(candidate.model, request, privacy, checks)
        if reason is None and isinstance(request, EmbeddingRequest):
            reason = _dimension_refusal(candidate.model, primary)
        if reason is None:
            candidates.append(candidate)
        else:
            skipped.append(Skipped(model=candidate.model.id, reason=reason))
    return Plan(name=name, shortcut=shortcut, candidates=tuple(candidates), skipped=tuple(skipped))


def _refusal(
    model: ModelProfile,
    request: ChatRequest | EmbeddingRequest,
    privacy: Privacy,
    checks: PlanChecks,
) -> str | None:
    """Why `model` cannot take `request`, or None when it can."""
    if privacy == "local" and model.privacy != "local":
        return "privacy: local only"
    if not checks.deployed(model):
        return "not deployed in this app"
    wanted_kind = "chat" if isinstance(request, ChatRequest) else "embedding"
    if model.kind != wanted_kind:
        return f"is a {model.kind} model, the request needs {wanted_kind}"
    if isinstance(request, ChatRequest):
        reason = _feature_refusal(model, request)
        if reason is not None:
            return reason
    if not checks.provider_available(model.provider):
        return f"provider {model.provider}: breaker open"
    return checks.budget_refusal(model)


def _dimension_refusal(model: ModelProfile, primary: ModelProfile) -> str | None:
    """Vectors of another size would not match the caller's index: no failover across sizes."""
    if model.embedding_dimensions != primary.embedding_dimensions:
        return (
            f"embeds in {model.embedding_dimensions} dimensions, "
            f"not the {primary.embedding_dimensions} of {primary.id}"
        )
    return None


def _feature_refusal(model: ModelProfile, request: ChatRequest) -> str | None:
    features = model.features
    if request.uses_tools() and not features.tools:
        return "no tool calling"
    if request.uses_json_schema() and not features.json_schema:
        return "no JSON-schema output"
    if request.uses_images() and not features.vision:
        return "no image input"
    needed = request.estimated_prompt_tokens() + (request.max_tokens or 0)
    if needed > model.context_window:
        return f"context window {model.context_window} < {needed} tokens needed"
    return None
