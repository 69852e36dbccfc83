"""A trained router: what a `learned:` shortcut reads to decide, per prompt, which model to call.

The artifact is a small JSON file beside the YAML (`directory/routers/<name>.json`), written by
`switchyard router train`. It holds plain numbers (no pickle, nothing executable): for each model
of the shortcut but the last, a logistic model over the prompt's embedding that estimates the
chance that this model answers as well as the strongest one, and the threshold that chance must
clear. It names the embedding model it expects (a directory id) and its dimensions, so that a
shortcut cannot be served with vectors of another model; and where and when it was trained.

`decide` is the decision itself, pure arithmetic, so that the gateway, the tests and the
benchmark run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT = "switchyard-router/1"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Training(_Part):
    """Where the router learned from: the outcome tables and the columns it compared."""

    source: Annotated[
        str, Field(min_length=1)
    ]  # e.g. "RouteLLM MMLU tables (Apache-2.0), 40 files"
    strong_column: Annotated[str, Field(min_length=1)]
    weak_columns: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    rows: int = Field(ge=1)
    trained_on: date
    # Cross-validated on the training rows at the chosen threshold, each a fraction.
    strong_share: float = Field(ge=0, le=1)
    quality: float = Field(ge=0)


class Step(_Part):
    """One cheaper model's classifier: P(it does as well as the strongest) = sigmoid(w . x + b)."""

    weights: list[float] = Field(min_length=1)
    bias: float
    # The lowest chance that sends the call to this model. Above 1: never (no threshold kept
    # the target quality on the training rows).
    threshold: float = Field(ge=0)


class RouterArtifact(_Part):
    format: Literal["switchyard-router/1"]
    embedding_model: Annotated[str, Field(min_length=1)]  # a directory id, e.g. local/...
    dimensions: int = Field(ge=1)
    # Only the prompt's first `max_chars` characters are embedded, in training and live alike:
    # the embed model's window is short (all-MiniLM: 256 word pieces) and longer input fails.
    max_chars: int = Field(ge=1)
    target_quality: float = Field(gt=0, le=1)
    steps: list[Step] = Field(min_length=1)  # one per model of the shortcut but the last
    training: Training

    @model_validator(mode="after")
    def _weights_fit_the_dimensions(self) -> RouterArtifact:
        for number, step in enumerate(self.steps):
            if len(step.weights) != self.dimensions:
                raise ValueError(
                    f"steps[{number}] has {len(step.weights)} weights, "
                    f"not the {self.dimensions} dimensions it declares"
                )
        return self


class Choice(_Part):
    """What the router decided: the index of the model to call, and on what evidence."""

    index: int  # into the shortcut's models, cheapest first
    probability: float | None  # the chance of the model it stopped at
    threshold: float | None


def embedded_text(prompt: str, max_chars: int) -> str:
    """The part of the prompt a router embeds (the same in training and live)."""
    return prompt[:max_chars]


def decide(vector: Sequence[float], artifact: RouterArtifact) -> Choice:
    """The cheapest model whose chance clears its threshold; the last model when none does.

    The probability and threshold reported are those of the cheapest model that was not chosen
    when the strongest is, else of the model chosen: the figures that explain the choice."""
    if len(vector) != artifact.dimensions:
        raise ValueError(f"a {len(vector)}-dimension vector for a {artifact.dimensions}-d router")
    first: tuple[float, float] | None = None
    for index, step in enumerate(artifact.steps):
        score = math.fsum(w * x for w, x in zip(step.weights, vector, strict=True)) + step.bias
        probability = _sigmoid(score)
        if probability >= step.threshold:
            return Choice(index=index, probability=probability, threshold=step.threshold)
        first = first or (probability, step.threshold)
    assert first is not None  # steps is never empty
    return Choice(index=len(artifact.steps), probability=first[0], threshold=first[1])


def _sigmoid(score: float) -> float:
    if score >= 0:
        return 1 / (1 + math.exp(-score))
    e = math.exp(score)
    return e / (1 + e)
