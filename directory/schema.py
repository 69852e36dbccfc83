"""The directory's types: one pydantic model per YAML entry, and the `Directory` the router reads.

Entries are strict (`extra="forbid"`, no type coercion: `"3.00"` is not a price) and frozen. Each
model checks only what one field can know (types, ranges, patterns); the rules that span fields,
entries or files live in `directory/checks.py`, so that every problem names its field. Field
meanings are documented in `directory/FORMAT.md`.

`Directory` is built only by `directory.loader` after validation; its lookups are plain dict reads,
because the router calls them on every request.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from directory.errors import UnknownName
from directory.pricing import PriceInForce, price_in_force
from directory.routers import RouterArtifact


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


ProviderId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
ModelId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._:-]*$")]
ShortcutName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Text = Annotated[str, Field(min_length=1)]
# USD per million tokens. The ceiling only catches unit slips (per-token or per-thousand prices).
Price = Annotated[float, Field(ge=0, le=1000)]
Privacy = Literal["cloud", "local"]
Feature = Literal["tools", "json_schema", "vision", "streaming"]
ScoreName = Literal[
    "reasoning",
    "coding",
    "tool_calling",
    "instruction_following",
    "creative_writing",
    "extraction",
    "summarization",
    "multilingual",
]
SCORE_NAMES: tuple[ScoreName, ...] = get_args(ScoreName)


# --- providers.yaml ------------------------------------------------------------------------------


class Timeouts(_Entry):
    connect_s: float = Field(default=5, gt=0)
    first_token_s: float = Field(default=30, gt=0)
    total_s: float = Field(default=300, gt=0)


class Breaker(_Entry):
    failure_threshold: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30, gt=0)


class Provider(_Entry):
    id: ProviderId
    adapter: Literal["anthropic", "openai", "openai-compatible", "google", "vllm"]
    display_name: Text
    base_url: str | None = None
    api_key_env: str | None = None
    privacy: Privacy
    timeouts: Timeouts = Timeouts()
    breaker: Breaker = Breaker()
    docs_url: str | None = None


# --- models.yaml ---------------------------------------------------------------------------------


class Modalities(_Entry):
    input: list[Literal["text", "image", "audio", "video", "pdf"]] = Field(min_length=1)
    output: list[Literal["text", "image", "audio", "embedding"]] = Field(min_length=1)


class Features(_Entry):
    tools: bool = False
    json_schema: bool = False
    vision: bool = False
    streaming: bool = False


class LongContextPricing(_Entry):
    """Prices that apply to the whole request once its prompt exceeds `threshold_tokens`."""

    threshold_tokens: int = Field(gt=0)
    input: Price
    output: Price
    cached_input: Price | None = None
    cache_write: Price | None = None


# A short name for a price, kept with every call it priced: "base", "tod-2026-08/peak".
PriceLabel = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", max_length=24)]
# Wall-clock hours in a period's timezone, "09:00-12:00": start inclusive, end exclusive; an end
# before the start runs past midnight into the next day; "24:00" ends at midnight.
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
Hours = Annotated[str, Field(pattern=rf"^{_CLOCK}-({_CLOCK}|24:00)$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
# Dates are not strict: YAML gives a date, a deployment's JSON user_config gives "2026-12-01".
Day = Annotated[date, Field(strict=False)]


class WindowPricing(_Entry):
    """The prices of time-of-day windows inside a `PricePeriod` (see directory/FORMAT.md)."""

    label: PriceLabel
    hours: list[Hours] = Field(min_length=1)  # e.g. ["09:00-12:00", "14:00-18:00"]
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    input: Price
    output: Price
    cached_input: Price | None = None
    cache_write: Price | None = None
    cache_write_1h: Price | None = None
    long_context: LongContextPricing | None = None


class PricePeriod(_Entry):
    """Prices in force over a range of days: flat, by time-of-day windows, or windows with the
    period's own prices as the default outside them. The rules that span fields (dates in
    order, windows that do not overlap, a default where windows leave hours uncovered) are in
    `directory/pricing.py`."""

    label: PriceLabel | None = None  # None: "from-<effective_from>" or "until-<until>"
    effective_from: Day | None = None  # first day in force, in `timezone`
    until: Day | None = None  # last day in force (inclusive), in `timezone`
    timezone: Text = "UTC"  # an IANA name, e.g. Asia/Shanghai
    input: Price | None = None
    output: Price | None = None
    cached_input: Price | None = None
    cache_write: Price | None = None
    cache_write_1h: Price | None = None
    long_context: LongContextPricing | None = None
    windows: list[WindowPricing] = []
    default_label: PriceLabel = "default"  # names the period's own prices outside its windows
    source: Text

    def name(self) -> str:
        if self.label is not None:
            return self.label
        if self.effective_from is not None:
            return f"from-{self.effective_from.isoformat()}"
        return f"until-{self.until.isoformat() if self.until is not None else 'always'}"


class Pricing(_Entry):
    """The base prices, in force outside every period of `schedule` (a plain block has none)."""

    input: Price
    output: Price
    cached_input: Price | None = None
    cache_write: Price | None = None
    cache_write_1h: Price | None = None
    long_context: LongContextPricing | None = None
    gpu_hour_usd: float | None = Field(default=None, gt=0, le=1000)
    source: Text
    schedule: list[PricePeriod] = []

    def blended(self) -> float:
        """USD per million tokens at a 3:1 input:output mix, the policy's `cheapest` measure."""
        return (3 * self.input + self.output) / 4

    def in_force(self, at: datetime) -> PriceInForce:
        """The prices that apply to a call made at `at` (timezone-aware), and their label."""
        return price_in_force(self, at)


class Latency(_Entry):
    ttft_ms: float = Field(gt=0)
    output_tokens_per_s: float | None = Field(default=None, gt=0)  # null for embedding models
    source: Text


class FreeTier(_Entry):
    requests_per_day: int | None = Field(default=None, gt=0)
    tokens_per_day: int | None = Field(default=None, gt=0)
    reset: Literal["utc-midnight", "pacific-midnight", "rolling-24h"] = "utc-midnight"
    paid_twin: ModelId


class Score(_Entry):
    score: float = Field(ge=0, le=100)
    source: Text
    confidence: float = Field(ge=0, le=1)

    def adjusted(self) -> float:
        """The score pulled towards the uninformed middle (50) as far as its source is weak."""
        return self.confidence * self.score + (1 - self.confidence) * 50


class Scores(_Entry):
    reasoning: Score
    coding: Score
    tool_calling: Score
    instruction_following: Score
    creative_writing: Score
    extraction: Score
    summarization: Score
    multilingual: Score

    def get(self, name: ScoreName) -> Score:
        score: Score = getattr(self, name)
        return score


class Autoscaling(_Entry):
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1)
    target_ongoing_requests: float = Field(gt=0)
    upscale_delay_s: float = Field(default=30, ge=0)
    downscale_delay_s: float = Field(default=300, ge=0)


class Serving(_Entry):
    """How a local model is served by vLLM on the cluster."""

    weights: Text
    num_gpus: float = Field(ge=0)
    tensor_parallel_size: int = Field(default=1, ge=1)
    accelerator_type: str | None = None
    max_model_len: int = Field(gt=0)
    autoscaling: Autoscaling


class ModelProfile(_Entry):
    id: ModelId
    provider: ProviderId
    provider_model: Text
    kind: Literal["chat", "embedding"]
    context_window: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    embedding_dimensions: int | None = Field(default=None, gt=0)
    modalities: Modalities
    features: Features
    pricing: Pricing
    latency: Latency
    privacy: Privacy
    backup: ModelId
    secondary: ModelId
    free_tier: FreeTier | None = None
    strengths: list[Text] = []
    weaknesses: list[Text] = []
    scores: Scores | None = None
    serving: Serving | None = None

    def has_feature(self, feature: Feature) -> bool:
        enabled: bool = getattr(self.features, feature)
        return enabled


# --- shortcuts.yaml ------------------------------------------------------------------------------


class Select(_Entry):
    """A policy: the loader picks the model that meets it best (see `directory/policy.py`)."""

    kind: Literal["chat", "embedding"] = "chat"
    min_scores: dict[ScoreName, Annotated[float, Field(ge=0, le=100)]] = {}
    features: list[Feature] = []
    privacy: Literal["any", "local", "cloud"] = "any"
    min_context_window: int = Field(default=0, ge=0)
    objective: Literal["cheapest", "fastest", "best"] = "cheapest"
    best_by: list[ScoreName] = []


class Learned(_Entry):
    """A router trained on outcomes picks, per prompt, the cheapest of `models` likely to do as
    well as the last (see `directory/routers.py`); `fallback` serves when it cannot decide."""

    models: list[ModelId] = Field(min_length=2)  # cheapest first, the strongest last
    router: Text  # the artifact's path, relative to the directory's folder
    fallback: ModelId
    # The most the prompt's embedding may take before the call goes to `fallback` undecided.
    embed_deadline_ms: float = Field(default=100, gt=0, le=5000)
    # The artifact itself: read from `router` by the loader, carried inline in `to_dict()` so a
    # replica needs no file.
    artifact: RouterArtifact | None = None


class Shortcut(_Entry):
    """Pins a model (`model`), states a policy (`select`) or learns per prompt (`learned`);
    exactly one of the three."""

    name: ShortcutName
    description: Text
    model: ModelId | None = None
    select: Select | None = None
    learned: Learned | None = None

    def how(self) -> str:
        """How it resolves, in words: "pinned", "policy: cheapest", "learned: routers/x.json"."""
        if self.select is not None:
            return f"policy: {self.select.objective}"
        if self.learned is not None:
            return f"learned: {self.learned.router}"
        return "pinned"

    def local_only(self) -> bool:
        """Calls through this shortcut never leave the cluster, not even on failover."""
        return self.name == "private" or (
            self.select is not None and self.select.privacy == "local"
        )


# --- the whole directory -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """A model that meets a policy, with the measure it was ranked by, in words."""

    model: ModelProfile
    measure: str  # e.g. "blended $0.44/Mtok", "210 tok/s, TTFT 300 ms", "mean score 81.2"


@dataclass(frozen=True)
class Selection:
    """How a policy shortcut was resolved: the pick first in `ranked`, and why."""

    shortcut: str
    ranked: tuple[Ranked, ...]  # every qualifying model, best first; never empty
    considered: int  # models of the policy's kind that could have qualified
    explanation: str

    @property
    def pick(self) -> ModelProfile:
        return self.ranked[0].model

    @property
    def runner_up(self) -> Ranked | None:
        return self.ranked[1] if len(self.ranked) > 1 else None


class Directory:
    """The validated directory. Build it with `directory.loader`; it never changes afterwards."""

    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        models: Mapping[str, ModelProfile],
        shortcuts: Mapping[str, Shortcut],
        selections: Mapping[str, Selection],
    ) -> None:
        self.providers: dict[str, Provider] = dict(providers)
        self.models: dict[str, ModelProfile] = dict(models)
        self.shortcuts: dict[str, Shortcut] = dict(shortcuts)
        # Policy shortcuts only: how each was resolved, for `switchyard route` to explain.
        self.selections: dict[str, Selection] = dict(selections)
        # shortcut name -> model id, pinned and policy alike.
        # A learned shortcut resolves to its fallback wherever one model must stand for it (the
        # route table, budgets); the gateway decides per prompt (serve_app/routing/learned.py).
        self.resolved: dict[str, str] = {
            name: _static_target(shortcut, selections) for name, shortcut in shortcuts.items()
        }
        # Precomputed so that the request path does dict reads only. Shortcut names have no "/"
        # and model ids always have one, so the two never collide.
        self._by_name: dict[str, ModelProfile] = dict(self.models)
        self._by_name.update({name: self.models[mid] for name, mid in self.resolved.items()})
        self._chains: dict[str, tuple[ModelProfile, ...]] = {
            model.id: (model, self.models[model.backup], self.models[model.secondary])
            for model in self.models.values()
        }

    def resolve(self, name: str) -> ModelProfile:
        """The model a shortcut or model id names; `UnknownName` (with suggestions) otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            suggestions = difflib.get_close_matches(name, self._by_name, n=3, cutoff=0.6)
            raise UnknownName(name, suggestions=suggestions) from None

    def chain(self, name: str) -> list[ModelProfile]:
        """The candidates for a model id or shortcut: the model, its backup, its secondary."""
        return list(self._chains[self.resolve(name).id])

    def local_only(self, name: str) -> bool:
        """Whether a call to `name` must stay local: a `private` shortcut or a local policy."""
        shortcut = self.shortcuts.get(name)
        return shortcut is not None and shortcut.local_only()

    def provider_of(self, model_id: str) -> Provider:
        return self.providers[self.resolve(model_id).provider]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, e.g. for a deployment's `user_config`.

        `directory_from_dict` reverses it. Derived data (`resolved`, `selections`) is left out:
        the receiving process re-resolves it.
        """
        return {
            "providers": [p.model_dump(mode="json") for p in self.providers.values()],
            "models": [m.model_dump(mode="json") for m in self.models.values()],
            "shortcuts": [s.model_dump(mode="json") for s in self.shortcuts.values()],
        }

    def __repr__(self) -> str:
        return (
            f"<Directory: {len(self.providers)} providers, {len(self.models)} models, "
            f"{len(self.shortcuts)} shortcuts>"
        )


def _static_target(shortcut: Shortcut, selections: Mapping[str, Selection]) -> str:
    if shortcut.model is not None:
        return shortcut.model
    if shortcut.learned is not None:
        return shortcut.learned.fallback
    return selections[shortcut.name].pick.id
