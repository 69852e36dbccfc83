"""What a caller asks for, independent of how it reached Switchyard (HTTP, a handle, Python)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.canonical import Attempt, ChatRequest, EmbeddingRequest, Skipped, Usage


class CallOptions(BaseModel):
    """Who is calling and under which rules; the same for all three entry points and HTTP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = "default"
    agent: str = "default"
    privacy: Literal["any", "local"] = "any"
    # Per attempt: the most seconds until the first token reaches the caller, i.e. a stream's
    # first content, or a whole answer (complete, embed), which arrives all at once. The
    # provider's own limit (providers.yaml `timeouts`) applies too; the smaller wins.
    first_token_s: float | None = Field(default=None, gt=0)
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex)


class ChatCall(BaseModel):
    """A chat call: `name` is a shortcut or a model id; `request.model` is filled per candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    request: ChatRequest
    options: CallOptions = Field(default_factory=CallOptions)


class EmbeddingCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    request: EmbeddingRequest
    options: CallOptions = Field(default_factory=CallOptions)


class Route(BaseModel):
    """How a call was served: part of every answer (headers and a body field over HTTP)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    name: str
    shortcut: str | None
    model: str | None = None  # directory id of the model that served
    provider: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0  # cash, every attempt's
    gpu_cost_usd: float = 0.0  # local models' amortised GPU cost, apart from cash
    # What the caller asked for, when its budget could not cover it and the tenant's config sent
    # the call to a cheaper shortcut instead (the `shortcut` field then names that one).
    downgraded_from: str | None = None
    notice: str | None = None  # e.g. "development stand-in: random weights, gibberish"
