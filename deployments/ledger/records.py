"""The usage record: one per attempt (design §4, step 7), keyed by (call_id, attempt).

`call_id` is the gateway's own id for the call, unique whatever the caller sends; the caller's
`X-Request-Id` (`request_id`) is kept beside it as a label, never as a key: three calls reusing
one request id are three calls, booked three times. `estimated` marks an attempt whose usage no
provider counted whole (it ended early: a caller gone, a stream cut midway), billed from an
estimate (`deployments.canonical.Usage.estimated`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from deployments.canonical import Usage
from deployments.ledger.cost import (
    Prices,
    cost_usd,
    gpu_cost_usd,
    price_label,
    price_version,
    prices_at,
)

RecordOutcome = Literal["ok", "failed", "caller_error", "interrupted"]


class UsageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str = Field(min_length=1)  # the gateway's id for the call
    attempt: int = Field(ge=0)  # the attempt's number within the call
    request_id: str | None = None  # the caller's id for the call, when it gave one
    ts: AwareDatetime  # when the attempt ended; stored in UTC
    tenant: str
    agent: str
    shortcut: str | None = None  # None when the caller named a model id
    model: str  # directory model id
    provider: str
    input_tokens: int = Field(default=0, ge=0)  # all prompt tokens, cache parts included
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    cache_write_1h_tokens: int = Field(default=0, ge=0)
    estimated: bool = False  # the tokens are an estimate, not the provider's count
    cost_usd: float = Field(ge=0)  # cash: what the provider bills
    # Local models: the GPUs' amortised cost (cost.gpu_cost_decimal), kept apart from cash.
    gpu_cost_usd: float = Field(default=0.0, ge=0)
    price_version: str  # cost.price_version of the prices used: history never gets repriced
    # Which of the model's prices applied ("base", "tod-2026-08/peak"; directory/pricing.py).
    price_label: str = Field(default="base", min_length=1, max_length=64)
    ttft_ms: float | None = Field(default=None, ge=0)  # streams and chat; None when no token came
    latency_ms: float = Field(ge=0)
    outcome: RecordOutcome
    error_kind: str | None = None

    @field_validator("ts")
    @classmethod
    def _utc(cls, ts: datetime) -> datetime:
        return ts.astimezone(UTC)

    @property
    def key(self) -> tuple[str, int]:
        return (self.call_id, self.attempt)

    @classmethod
    def priced(
        cls,
        *,
        usage: Usage,
        pricing: Prices,
        call_id: str,
        attempt: int,
        tenant: str,
        agent: str,
        shortcut: str | None,
        model: str,
        provider: str,
        latency_ms: float,
        outcome: RecordOutcome,
        ttft_ms: float | None = None,
        error_kind: str | None = None,
        request_id: str | None = None,
        ts: datetime | None = None,
        gpu_tokens_per_s: float | None = None,
    ) -> UsageRecord:
        """The record of an attempt, costed from its usage: the provider's count, or the estimate
        of an attempt that ended early (then the record says `estimated`); a failed attempt
        books whatever usage it had, usually none. `gpu_tokens_per_s`: a local model's
        throughput per replica, for its GPU cost. The attempt is billed at the prices in force
        when it was made: `ts` (when it ended) less its latency."""
        ts = ts or datetime.now(UTC)
        prices = prices_at(pricing, ts - timedelta(milliseconds=latency_ms))
        return cls(
            call_id=call_id,
            attempt=attempt,
            request_id=request_id,
            ts=ts,
            tenant=tenant,
            agent=agent,
            shortcut=shortcut,
            model=model,
            provider=provider,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            estimated=usage.estimated,
            cost_usd=cost_usd(usage, prices),
            gpu_cost_usd=gpu_cost_usd(usage.output_tokens, prices.gpu_hour_usd, gpu_tokens_per_s),
            price_version=price_version(prices),
            price_label=price_label(prices),
            ttft_ms=ttft_ms,
            latency_ms=latency_ms,
            outcome=outcome,
            error_kind=error_kind,
        )
