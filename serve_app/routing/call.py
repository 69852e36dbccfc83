"""A call and what it gives back, independent of how it reached Switchyard (HTTP, a handle).

A caller asks with a `ChatCall` or an `EmbeddingCall`; the gateway answers with the result and
its `Route` (how it was served): an `Answer` for a whole result, a `StreamedAnswer` for a stream,
whose route is whole once its chunks are done. A call that fails raises a Switchyard error that
carries its route too (`route_of`).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.canonical import (
    Attempt,
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    Skipped,
    Usage,
)
from serve_app.identity.caller import KeyLimits

FIRST_TOKEN_FLOOR_S = 1.0
REQUEST_ID_MAX = 128


def new_call_id() -> str:
    """The server's id for one call: what keys its ledger records, whatever the caller sends.
    32 hex digits of 128 random bits, the shape `uuid4().hex` had (it fixes 6 of them), at a
    little over half its cost (1.0 against 1.8 µs): one is made per call."""
    return secrets.token_hex(16)


class CallOptions(BaseModel):
    """Who is calling and under which rules; the same for all three entry points and HTTP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = "default"
    agent: str = "default"
    privacy: Literal["any", "local"] = "any"
    # Per attempt: the most seconds until the first token reaches the caller, i.e. a stream's
    # first content, or a whole answer (complete, embed), which arrives all at once. The
    # provider's own limit (providers.yaml `timeouts`) applies too; the smaller wins.
    # Below FIRST_TOKEN_FLOOR_S a call would time out on any provider, and used to be a way for
    # a caller to make healthy providers look down; such a deadline is refused.
    first_token_s: float | None = Field(default=None, ge=FIRST_TOKEN_FLOOR_S)
    # The caller's own id for the call (HTTP: `X-Request-Id`), kept in the ledger beside the
    # call's server-made `call_id`; only ever a label: never a key, never idempotency.
    request_id: str | None = None
    # The key that made the call and its rate limits: set by the Ingress from the checked key,
    # never from the caller's body or headers. None for calls from inside the cluster (handles).
    key: KeyLimits | None = None

    @field_validator("request_id")
    @classmethod
    def _printable(cls, request_id: str | None) -> str | None:
        if request_id is not None and not (
            0 < len(request_id) <= REQUEST_ID_MAX and all(" " <= c <= "~" for c in request_id)
        ):
            raise ValueError(f"must be 1 to {REQUEST_ID_MAX} printable ASCII characters")
        return request_id


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


class Decision(BaseModel):
    """How a learned shortcut chose the model it planned the call on (`routing/learned.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str  # the directory id the call was planned on (its backup chain fails over)
    router: str  # the artifact that decided, as the shortcut names it
    # The chance the router gave and the threshold it had to clear (see `directory/routers.py`);
    # None when it could not decide.
    probability: float | None = None
    threshold: float | None = None
    # Set when the router could not decide and the call went to the shortcut's fallback.
    fallback_reason: str | None = None


class Route(BaseModel):
    """How a call was served: part of every answer (headers and a body field over HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str  # made by the gateway, unique per call; keys the call's ledger records
    request_id: str | None = None  # the caller's id, when it gave one
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
    # The call's time in Switchyard outside its attempts (planning, failing over, bookkeeping),
    # in ms. Until a stream's chunks are done: the part spent before its serving attempt began.
    overhead_ms: float = 0.0
    decision: Decision | None = None  # a learned shortcut's choice, and on what evidence


Result = TypeVar("Result")


@dataclass(frozen=True)
class Answer(Generic[Result]):
    """A whole answer and how it was served."""

    result: Result
    route: Route


class StreamedAnswer:
    """A streamed answer: `async for chunk in answer`, then `answer.route`.

    `route` is how the call has been served so far: once the first chunk is out, which model
    serves it; once the chunks are done, the whole route (every attempt, usage, cost, overhead).
    """

    def __init__(self, chunks: AsyncIterator[ChatChunk], route: Callable[[], Route]) -> None:
        self._chunks = chunks
        self._route = route

    def __aiter__(self) -> StreamedAnswer:
        return self

    async def __anext__(self) -> ChatChunk:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop early: the call settles (books what was used, counts as cancelled) now, not
        whenever the abandoned generator is collected."""
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()

    @property
    def route(self) -> Route:
        return self._route()


# The attribute a failed call's route travels in on its error: an instance attribute, so it
# survives pickling (Ray) like the error's own fields; private, so it is no field of the error.
_ROUTE = "_switchyard_route"


def with_route(error: BaseException, route: Route) -> None:
    """Say on `error` how its call had been served until it failed."""
    setattr(error, _ROUTE, route)


def route_of(error: BaseException) -> Route | None:
    """How the call that raised `error` had been served until then (its attempts, what was
    skipped), when the gateway raised it."""
    route = getattr(error, _ROUTE, None)
    return route if isinstance(route, Route) else None
