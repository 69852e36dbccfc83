"""What an attempt cost, by the formula the vendor's bill uses.

Prices are USD per million tokens (directory/FORMAT.md). Usage follows `deployments.canonical`:
`input_tokens` counts every prompt token, and `cached_input_tokens` (cache reads) and
`cache_write_tokens` (of which `cache_write_1h_tokens` were written for an hour) are parts of it.

    cost = (input − cached − cache_write) × input
         + cached                          × cached_input    (null: input)
         + (cache_write − 1h part)         × cache_write     (null: input — a write costs no extra)
         + 1h part                         × cache_write_1h  (null: cache_write)
         + output                          × output

Long context: once `input_tokens` exceeds the tier's threshold, the whole request — every input
part and the output — is billed at the tier's prices, as Anthropic and Google bill it. A tier that
leaves a cache price out keeps the base prices' ratio to the input price (Anthropic defines its
cache prices as multiples of the input price: 0.1× read, 1.25× 5-minute write, 2× 1-hour write).

Prices can change on a date and by time of day (directory/pricing.py): a directory `Pricing` with
a schedule answers `in_force(at)`, and `prices_at` asks it, so that a call is billed at the prices
in force when it was made and the record keeps their label ("base", "v4-tod/peak").

Arithmetic is in Decimal, from each float's shortest decimal form, so $0.30 is 0.30 and not
0.2999…; the result is rounded to a float once, at the end.

Local models cost nothing per token in cash, but their GPUs cost `gpu_hour_usd` per replica-hour.
`gpu_cost_decimal` amortises that over the replica's throughput, and the ledger keeps it apart
from cash spend (`UsageRecord.gpu_cost_usd`):

    gpu cost = gpu_hour_usd × output_tokens / (3600 × tokens_per_s)

where `tokens_per_s` is what one replica produces at its working load: the directory's
single-stream decode rate (`latency.output_tokens_per_s`) times the concurrency the autoscaler
keeps each replica at (`serving.autoscaling.target_ongoing_requests`), because vLLM batches those
streams at close to the single-stream rate each. Decode dominates a chat call's GPU time, so
prompt tokens are not charged; an embedding model has no decode rate and books no GPU cost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Protocol, cast

from deployments.canonical import Usage

logger = logging.getLogger(__name__)

_MILLION = Decimal(1_000_000)


class LongContextPrices(Protocol):
    """`directory.schema.LongContextPricing`, structurally."""

    @property
    def threshold_tokens(self) -> int: ...
    @property
    def input(self) -> float: ...
    @property
    def output(self) -> float: ...
    @property
    def cached_input(self) -> float | None: ...
    @property
    def cache_write(self) -> float | None: ...


class Prices(Protocol):
    """`directory.schema.Pricing`, structurally (this module does not import the directory)."""

    @property
    def input(self) -> float: ...
    @property
    def output(self) -> float: ...
    @property
    def cached_input(self) -> float | None: ...
    @property
    def cache_write(self) -> float | None: ...
    @property
    def cache_write_1h(self) -> float | None: ...
    @property
    def long_context(self) -> LongContextPrices | None: ...
    @property
    def gpu_hour_usd(self) -> float | None: ...


def prices_at(pricing: Prices, at: datetime) -> Prices:
    """The prices in force at `at`: what a scheduled `Pricing`'s `in_force(at)` answers; any
    other `Prices`, an unscheduled `Pricing` included, is the same at every instant (and is
    returned as is: this runs for every attempt, and most models have no schedule)."""
    in_force: Callable[[datetime], Prices] | None = getattr(pricing, "in_force", None)
    if in_force is None or not getattr(pricing, "schedule", None):
        return pricing
    return in_force(at)


def price_label(prices: Prices) -> str:
    """The label of prices `prices_at` gave ("base" for prices without a schedule)."""
    return _facts(prices).label


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens for each kind of token, as one request is billed."""

    input: Decimal
    cached_input: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    output: Decimal


def _d(price: float) -> Decimal:
    return Decimal(str(price))


def rates_for(usage: Usage, pricing: Prices) -> Rates:
    """The prices that apply to this request: the base prices or the long-context tier's."""
    facts = _facts(pricing)
    if facts.long_context is None or usage.input_tokens <= facts.threshold_tokens:
        return facts.base
    return facts.long_context


def _base_rates(pricing: Prices) -> Rates:
    base_input = _d(pricing.input)
    cached = base_input if pricing.cached_input is None else _d(pricing.cached_input)
    write = base_input if pricing.cache_write is None else _d(pricing.cache_write)
    write_1h = write if pricing.cache_write_1h is None else _d(pricing.cache_write_1h)
    return Rates(base_input, cached, write, write_1h, _d(pricing.output))


def _long_context_rates(base: Rates, pricing: Prices, tier: LongContextPrices) -> Rates:
    """The tier's prices; a cache price it leaves out keeps the base prices' ratio to input."""
    tier_input = _d(tier.input)

    def scaled(base_price: Decimal) -> Decimal:
        return tier_input if base.input == 0 else base_price * tier_input / base.input

    tier_write = scaled(base.cache_write) if tier.cache_write is None else _d(tier.cache_write)
    return Rates(
        input=tier_input,
        cached_input=(
            scaled(base.cached_input) if tier.cached_input is None else _d(tier.cached_input)
        ),
        cache_write=tier_write,
        cache_write_1h=(
            scaled(base.cache_write_1h) if pricing.cache_write_1h is not None else tier_write
        ),
        output=_d(tier.output),
    )


def cost_decimal(usage: Usage, pricing: Prices) -> Decimal:
    """The exact cost in USD."""
    rates = rates_for(usage, pricing)
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    if uncached < 0:
        # An adapter reported the cache parts outside input_tokens. Billing the parts we know
        # beats losing the record; the adapter's tests are where this gets fixed.
        logger.warning("usage with cache parts larger than input_tokens: %r", usage)
        uncached = 0
    write_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    write_5m = usage.cache_write_tokens - write_1h
    total = (
        uncached * rates.input
        + usage.cached_input_tokens * rates.cached_input
        + write_5m * rates.cache_write
        + write_1h * rates.cache_write_1h
        + usage.output_tokens * rates.output
    )
    return total / _MILLION


def cost_usd(usage: Usage, pricing: Prices) -> float:
    """The cost in USD of one attempt with this usage at these prices."""
    return float(cost_decimal(usage, pricing))


def gpu_cost_decimal(
    output_tokens: int, gpu_hour_usd: float | None, tokens_per_s: float | None
) -> Decimal:
    """The amortised GPU cost of a local model's answer (see the module docstring); 0 when the
    directory gives no GPU price or no throughput."""
    if not gpu_hour_usd or not tokens_per_s or output_tokens <= 0:
        return Decimal(0)
    return _d(gpu_hour_usd) * output_tokens / (Decimal(3600) * _d(tokens_per_s))


def gpu_cost_usd(
    output_tokens: int, gpu_hour_usd: float | None, tokens_per_s: float | None
) -> float:
    return float(gpu_cost_decimal(output_tokens, gpu_hour_usd, tokens_per_s))


def _canonical(price: float | None) -> str | None:
    # 3, 3.0 and 3.00 are one price: hash the normalised decimal, not the float's spelling.
    return None if price is None else format(_d(price).normalize(), "f")


def estimate_usd(
    input_tokens: int, output_tokens: int, pricing: Prices, at: datetime | None = None
) -> float:
    """A quick float estimate of a call's cost before it is made (budget reservations): the
    formula above without cache parts, the long-context tier included, at the prices in force
    `at` (None: now, as the call is about to be made). Not for billing."""
    pricing = prices_at(pricing, at or datetime.now(UTC))
    tier = pricing.long_context
    if tier is not None and input_tokens > tier.threshold_tokens:
        return (input_tokens * tier.input + output_tokens * tier.output) / 1_000_000
    return (input_tokens * pricing.input + output_tokens * pricing.output) / 1_000_000


def price_version(pricing: Prices) -> str:
    """A short, stable hash of every price that enters the bill. Stored with each usage record,
    so that a directory update never rewrites what past calls cost."""
    return _facts(pricing).version


@dataclass(frozen=True, slots=True)
class _PriceFacts:
    """What billing needs of one set of prices, worked out once per set rather than per attempt:
    its version (JSON and SHA-256), its label, and its rates in Decimal."""

    version: str
    label: str
    base: Rates
    long_context: Rates | None  # None: no long-context tier
    threshold_tokens: int


# Every attempt books one record, so these are on the request path; the prices change only when
# the directory does. A directory `Pricing` is frozen but unhashable (its schedule is a list):
# kept by identity, with the object itself so that its id cannot be reused while cached.
_FACTS_BY_IDENTITY: dict[int, tuple[Prices, _PriceFacts]] = {}
_MAX_CACHED = 1024


def _facts(pricing: Prices) -> _PriceFacts:
    held = _FACTS_BY_IDENTITY.get(id(pricing))
    if held is not None and held[0] is pricing:
        return held[1]
    if not _frozen(pricing):  # a mutable stand-in (tests) could change under a kept answer
        return _work_out(pricing)
    try:
        return _facts_by_value(cast(Hashable, pricing))  # a PriceInForce, made per attempt
    except TypeError:
        pass
    facts = _work_out(pricing)
    if len(_FACTS_BY_IDENTITY) >= _MAX_CACHED:
        _FACTS_BY_IDENTITY.clear()
    _FACTS_BY_IDENTITY[id(pricing)] = (pricing, facts)
    return facts


@lru_cache(maxsize=_MAX_CACHED)
def _facts_by_value(pricing: Hashable) -> _PriceFacts:
    return _work_out(cast(Prices, pricing))


def _frozen(pricing: Prices) -> bool:
    config = getattr(type(pricing), "model_config", None)  # pydantic
    if isinstance(config, dict):
        return bool(config.get("frozen"))
    params = getattr(type(pricing), "__dataclass_params__", None)
    return bool(getattr(params, "frozen", False))


def _work_out(pricing: Prices) -> _PriceFacts:
    label = getattr(pricing, "label", None)  # a PriceInForce's; a plain Pricing is the base
    tier = pricing.long_context
    base = _base_rates(pricing)
    return _PriceFacts(
        version=_price_version(pricing),
        label=label if isinstance(label, str) else "base",
        base=base,
        long_context=None if tier is None else _long_context_rates(base, pricing, tier),
        threshold_tokens=0 if tier is None else tier.threshold_tokens,
    )


def _price_version(pricing: Prices) -> str:
    tier = pricing.long_context
    fields = {
        "input": _canonical(pricing.input),
        "output": _canonical(pricing.output),
        "cached_input": _canonical(pricing.cached_input),
        "cache_write": _canonical(pricing.cache_write),
        "cache_write_1h": _canonical(pricing.cache_write_1h),
        "gpu_hour_usd": _canonical(pricing.gpu_hour_usd),
        "long_context": None
        if tier is None
        else {
            "threshold_tokens": tier.threshold_tokens,
            "input": _canonical(tier.input),
            "output": _canonical(tier.output),
            "cached_input": _canonical(tier.cached_input),
            "cache_write": _canonical(tier.cache_write),
        },
    }
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
