"""The rules that span fields, entries and files: the checks a single pydantic field cannot make.

Each check reports a `Problem` naming the file, the entry and the field, and suggests the nearest
id where a reference does not resolve. `known` ids include entries that failed the schema, so one
broken model is reported once, not again by every model that names it as a backup.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from directory.errors import Problem
from directory.policy import criteria, select_model
from directory.pricing import schedule_problems
from directory.schema import Learned, ModelProfile, Provider, Selection, Shortcut


def unknown(what: str, ref: str, known: Iterable[str]) -> str:
    """The message for a reference that does not resolve: "unknown model 'x'; did you mean 'y'?"."""
    close = difflib.get_close_matches(ref, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {ref!r}{hint}"


def duplicates(ids: Iterable[str]) -> set[str]:
    return {key for key, count in Counter(ids).items() if count > 1}


def check_providers(providers: Iterable[Provider], file: str) -> list[Problem]:
    problems: list[Problem] = []
    for p in providers:
        entry = f"providers[{p.id}]"
        if (p.adapter == "vllm") != (p.privacy == "local"):
            problems.append(
                Problem(file, entry, "privacy", "the vllm adapter and only it serves local models")
            )
        if p.adapter != "vllm" and not p.api_key_env:
            problems.append(
                Problem(file, entry, "api_key_env", "a cloud provider needs its key's variable")
            )
        if p.adapter == "openai-compatible" and not p.base_url:
            problems.append(Problem(file, entry, "base_url", "openai-compatible needs a base_url"))
    return problems


def _check_reference(
    model: ModelProfile,
    field: str,
    ref: str,
    models: Mapping[str, ModelProfile],
    known: Collection[str],
) -> str | None:
    """What is wrong with `model.<field>` naming `ref`, or None."""
    if ref not in known:
        return unknown("model", ref, known)
    if ref == model.id:
        return f"a model cannot be its own {field.split('.')[-1].replace('_', ' ')}"
    target = models.get(ref)
    if target is not None and target.kind != model.kind:
        return f"{ref} is a {target.kind} model; {model.id} is a {model.kind} model"
    return None


def _check_prices(model: ModelProfile) -> list[tuple[str, str]]:
    pricing = model.pricing
    found: list[tuple[str, str]] = []
    if model.privacy == "local":
        if pricing.gpu_hour_usd is None:
            found.append(("pricing.gpu_hour_usd", "a local model needs the GPU's hourly cost"))
        for name in ("input", "output"):
            if getattr(pricing, name) != 0:
                found.append(
                    (f"pricing.{name}", "a local model's tokens cost 0; its cost is gpu_hour_usd")
                )
        if model.serving is None:
            found.append(("serving", "a local model needs a serving block"))
        return found
    if pricing.gpu_hour_usd is not None:
        found.append(("pricing.gpu_hour_usd", "only local models have a GPU cost"))
    if model.serving is not None:
        found.append(("serving", "only local models are served by Switchyard"))
    if model.free_tier is None:
        # The bug this prevents: a model with no price that silently costs $0 in the ledger.
        needed = ("input", "output") if model.kind == "chat" else ("input",)
        for name in needed:
            if getattr(pricing, name) <= 0:
                found.append(
                    (
                        f"pricing.{name}",
                        f"a cloud {model.kind} model needs a price above 0 "
                        "(or a free_tier); unpriced, it would silently cost $0",
                    )
                )
    return found


def _check_shape(model: ModelProfile) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if model.kind == "chat":
        if model.scores is None:
            found.append(("scores", "a chat model needs all eight scores"))
        if model.max_output_tokens is None:
            found.append(("max_output_tokens", "a chat model needs max_output_tokens"))
        if model.embedding_dimensions is not None:
            found.append(("embedding_dimensions", "only embedding models have dimensions"))
        if model.latency.output_tokens_per_s is None:
            found.append(("latency.output_tokens_per_s", "a chat model needs its output speed"))
    else:
        if model.embedding_dimensions is None:
            found.append(("embedding_dimensions", "an embedding model needs its dimensions"))
        if model.scores is not None:
            found.append(("scores", "embedding models carry no chat scores (use null)"))
        if model.max_output_tokens is not None:
            found.append(("max_output_tokens", "embedding models have no output tokens (null)"))
    if model.features.vision != ("image" in model.modalities.input):
        found.append(("features.vision", "must be true exactly when modalities.input has image"))
    if model.max_output_tokens is not None and model.max_output_tokens > model.context_window:
        found.append(("max_output_tokens", "larger than the context window"))
    long_context = model.pricing.long_context
    if long_context is not None and long_context.threshold_tokens >= model.context_window:
        found.append(("pricing.long_context.threshold_tokens", "not below the context window"))
    if model.serving is not None:
        if model.serving.max_model_len > model.context_window:
            found.append(("serving.max_model_len", "larger than the context window"))
        scaling = model.serving.autoscaling
        if scaling.min_replicas > scaling.max_replicas:
            found.append(("serving.autoscaling.min_replicas", "above max_replicas"))
    return found


def check_models(
    models: Iterable[ModelProfile],
    providers: Mapping[str, Provider],
    known_models: Collection[str],
    known_providers: Collection[str],
    file: str,
) -> list[Problem]:
    by_id = {m.id: m for m in models}
    problems: list[Problem] = []
    for m in by_id.values():
        found: list[tuple[str, str]] = []
        provider = providers.get(m.provider)
        if m.provider not in known_providers:
            found.append(("provider", unknown("provider", m.provider, known_providers)))
        if m.id.split("/", 1)[0] != m.provider:
            found.append(("id", f"must start with its provider, {m.provider + '/'!r}"))
        if provider is not None and m.privacy != provider.privacy:
            found.append(("privacy", f"must equal provider {m.provider}'s ({provider.privacy})"))
        for field, ref in (("backup", m.backup), ("secondary", m.secondary)):
            if (message := _check_reference(m, field, ref, by_id, known_models)) is not None:
                found.append((field, message))
        if m.backup == m.secondary != m.id:
            found.append(("secondary", "must differ from backup"))
        if m.free_tier is not None:
            twin = m.free_tier.paid_twin
            message = _check_reference(m, "free_tier.paid_twin", twin, by_id, known_models)
            if message is None and by_id.get(twin, m).free_tier is not None:
                message = f"{twin} has a free tier itself; the paid twin must be paid"
            if message is not None:
                found.append(("free_tier.paid_twin", message))
        found += _check_prices(m) + _check_shape(m) + schedule_problems(m)
        problems += [Problem(file, f"models[{m.id}]", field, text) for field, text in found]
    return problems


def _check_policy(shortcut: Shortcut) -> list[tuple[str, str]]:
    select = shortcut.select
    if select is None:
        return []
    found: list[tuple[str, str]] = []
    if select.objective == "best" and not select.best_by:
        found.append(("select.best_by", "objective best needs the scores to rank by"))
    if select.objective != "best" and select.best_by:
        found.append(("select.best_by", "only objective best ranks by scores"))
    if select.kind == "embedding" and (select.min_scores or select.best_by):
        found.append(("select.min_scores", "embedding models carry no scores"))
    return found


def _check_local_chain(
    shortcut: Shortcut, target: ModelProfile, models: Mapping[str, ModelProfile]
) -> list[tuple[str, str]]:
    """A private shortcut must never send a prompt off the cluster, not even on failover."""
    field = "model" if shortcut.model is not None else "select"
    if target.privacy != "local":
        return [(field, f"resolves to {target.id}, a cloud model; a private shortcut needs local")]
    found: list[tuple[str, str]] = []
    for role, ref in (("backup", target.backup), ("secondary", target.secondary)):
        other = models.get(ref)
        if other is not None and other.privacy != "local":
            found.append((field, f"the {role} of {target.id}, {ref}, is a cloud model"))
    return found


def check_learned(
    learned: Learned, models: Mapping[str, ModelProfile], known_models: Collection[str]
) -> list[tuple[str, str]]:
    """A learned shortcut's models are chat models the directory has, its fallback is one of
    them, and its router was trained for as many models on the vectors of a local embed model
    the directory has, of the size it declares."""
    found: list[tuple[str, str]] = []
    for index, ref in enumerate(learned.models):
        model = models.get(ref)
        if ref not in known_models:
            found.append((f"learned.models[{index}]", unknown("model", ref, known_models)))
        elif model is not None and model.kind != "chat":
            found.append((f"learned.models[{index}]", f"{ref} is a {model.kind} model, not chat"))
    for dup in sorted(duplicates(learned.models)):
        found.append(("learned.models", f"{dup} is named twice"))
    if learned.fallback not in learned.models:
        found.append(("learned.fallback", f"{learned.fallback!r} is not one of learned.models"))
    artifact = learned.artifact
    if artifact is None:  # the loader reports why it could not read it
        return found
    if len(artifact.steps) != len(learned.models) - 1:
        found.append(
            (
                "learned.router",
                f"{learned.router} decides between {len(artifact.steps) + 1} models; "
                f"the shortcut names {len(learned.models)}",
            )
        )
    embedder = models.get(artifact.embedding_model)
    if embedder is None:
        message = unknown("embedding model", artifact.embedding_model, known_models)
        found.append(("learned.router", f"{learned.router}: {message}"))
    elif embedder.kind != "embedding" or embedder.privacy != "local":
        found.append(
            (
                "learned.router",
                f"{learned.router}: {embedder.id} is not a local embedding model",
            )
        )
    elif embedder.embedding_dimensions != artifact.dimensions:
        found.append(
            (
                "learned.router",
                f"{learned.router} expects {artifact.dimensions}-dimension vectors; "
                f"{embedder.id} gives {embedder.embedding_dimensions}",
            )
        )
    return found


def check_shortcuts(
    shortcuts: Iterable[Shortcut],
    models: Mapping[str, ModelProfile],
    known_models: Collection[str],
    file: str,
    now: datetime,
) -> tuple[list[Problem], dict[str, Selection]]:
    """Problems, and how each valid policy shortcut resolved at today's prices (`now`)."""
    problems: list[Problem] = []
    selections: dict[str, Selection] = {}
    for s in shortcuts:
        found: list[tuple[str, str]] = []
        target: ModelProfile | None = None
        if sum(kind is not None for kind in (s.model, s.select, s.learned)) != 1:
            found.append(
                (
                    "model",
                    "give exactly one of model: <id> (pinned), select: (policy) "
                    "or learned: (per prompt)",
                )
            )
        elif s.learned is not None:
            found += check_learned(s.learned, models, known_models)
            target = models.get(s.learned.fallback)
        elif s.model is not None:
            if s.model not in known_models:
                found.append(("model", unknown("model", s.model, known_models)))
            target = models.get(s.model)
        elif s.select is not None:
            policy_problems = _check_policy(s)
            selection = (
                None if policy_problems else select_model(s.name, s.select, models.values(), now)
            )
            if selection is not None:
                selections[s.name] = selection
                target = selection.pick
            elif not policy_problems:
                policy_problems.append(("select", f"no model meets it ({criteria(s.select)})"))
            found += policy_problems
        if target is not None and s.local_only():
            found += _check_local_chain(s, target, models)
        problems += [Problem(file, f"shortcuts[{s.name}]", field, text) for field, text in found]
    return problems, selections
