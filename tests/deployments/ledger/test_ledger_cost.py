"""Costs against the vendors' published prices and worked billing examples.

Prices (USD per million tokens), as the vendors publish them:
- Anthropic, docs.anthropic.com/en/docs/about-claude/pricing: Claude Sonnet 4 — input $3, 5-minute
  cache write $3.75, 1-hour cache write $6, cache hit $0.30, output $15; long context (prompt over
  200K input tokens): input $6, output $22.50, for the whole request. Cache prices are multiples
  of the input price (1.25×, 2×, 0.1×) and stack on the long-context input price.
- OpenAI, platform pricing page: gpt-4o — input $2.50, cached input $1.25, output $10; o1 — input
  $15, cached input $7.50, output $60. Cached tokens are a part of prompt_tokens
  (community.openai.com/t/1099176 works the o1 formula through).
- Google, ai.google.dev/gemini-api/docs/pricing: Gemini 2.5 Pro — prompts ≤ 200K tokens: input
  $1.25, output $10 (thinking included), context-cache read $0.125; prompts > 200K: input $2.50,
  output $15, cache read $0.25.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from deployments.canonical import Usage
from deployments.ledger.cost import cost_decimal, cost_usd, price_version


@dataclass(frozen=True)
class LongContext:
    threshold_tokens: int
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True)
class Pricing:
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    long_context: LongContext | None = None
    gpu_hour_usd: float | None = None


SONNET_4 = Pricing(
    input=3.00,
    output=15.00,
    cached_input=0.30,
    cache_write=3.75,
    cache_write_1h=6.00,
    long_context=LongContext(
        200_000, input=6.00, output=22.50, cached_input=0.60, cache_write=7.50
    ),
)
GPT_4O = Pricing(input=2.50, output=10.00, cached_input=1.25)
O1 = Pricing(input=15.00, output=60.00, cached_input=7.50)
GEMINI_25_PRO = Pricing(
    input=1.25,
    output=10.00,
    cached_input=0.125,
    long_context=LongContext(200_000, input=2.50, output=15.00, cached_input=0.25),
)


def anthropic_usage(uncached: int, read: int, write: int, output: int, write_1h: int = 0) -> Usage:
    """Anthropic reports the three input parts apart; the adapter adds them up (canonical.py)."""
    return Usage(
        input_tokens=uncached + read + write,
        cached_input_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
        output_tokens=output,
    )


# --- Anthropic --------------------------------------------------------------------------------


def test_anthropic_uncached() -> None:
    # 199,999 in / 2K out stays under the long-context threshold: $0.599997 + $0.03 ≈ $0.63
    # (the worked example at eonsr.com/en/claude-sonnet-4-1m-context-pricing-switch).
    usage = Usage(input_tokens=199_999, output_tokens=2_000)
    assert cost_decimal(usage, SONNET_4) == Decimal("0.629997")


def test_anthropic_long_context_bills_the_whole_request_at_the_tier() -> None:
    # 250K in / 2K out crosses 200K: $1.50 + $0.045 = $1.545 (same worked example).
    usage = Usage(input_tokens=250_000, output_tokens=2_000)
    assert cost_decimal(usage, SONNET_4) == Decimal("1.545")
    # Exactly at the threshold is not over it.
    at = Usage(input_tokens=200_000, output_tokens=0)
    assert cost_decimal(at, SONNET_4) == Decimal("0.6")


def test_anthropic_cache_write_then_reads() -> None:
    # A 5,000-token system prompt reused by 100 requests within five minutes: the first writes it
    # at $3.75, the other 99 read it at $0.30 — versus $1.50 for 100 uncached reads of it.
    first = anthropic_usage(uncached=0, read=0, write=5_000, output=0)
    later = anthropic_usage(uncached=0, read=5_000, write=0, output=0)
    total = cost_decimal(first, SONNET_4) + 99 * cost_decimal(later, SONNET_4)
    assert total == Decimal("0.01875") + Decimal("0.1485")
    uncached = Usage(input_tokens=5_000)
    assert 100 * cost_decimal(uncached, SONNET_4) == Decimal("1.5")


def test_anthropic_one_hour_cache_write() -> None:
    # A 2,000-token prefix written for one hour costs 2,000 × $6/M = $0.012; a read $0.0006.
    write_1h = anthropic_usage(uncached=0, read=0, write=2_000, write_1h=2_000, output=0)
    assert cost_decimal(write_1h, SONNET_4) == Decimal("0.012")
    read = anthropic_usage(uncached=0, read=2_000, write=0, output=0)
    assert cost_decimal(read, SONNET_4) == Decimal("0.0006")


def test_anthropic_mixed_request() -> None:
    # 50 uncached, 10,000 read, 3,000 written (1,000 of them for an hour), 400 out:
    # 50×3 + 10,000×0.30 + 2,000×3.75 + 1,000×6 + 400×15 = 150 + 3,000 + 7,500 + 6,000 + 6,000
    usage = anthropic_usage(uncached=50, read=10_000, write=3_000, write_1h=1_000, output=400)
    assert cost_decimal(usage, SONNET_4) == Decimal("0.02265")
    assert cost_usd(usage, SONNET_4) == pytest.approx(0.02265, abs=1e-15)


def test_anthropic_long_context_with_caching() -> None:
    # Over 200K the cache prices stack on the tier's input price: read $0.60, 5-minute write
    # $7.50, and the 1-hour write 2 × $6 = $12 (the tier does not list it; its ratio is kept).
    usage = anthropic_usage(
        uncached=10_000, read=150_000, write=60_000, write_1h=20_000, output=1_000
    )
    expected = (
        10_000 * Decimal("6")
        + 150_000 * Decimal("0.6")
        + 40_000 * Decimal("7.5")
        + 20_000 * Decimal("12")
        + 1_000 * Decimal("22.5")
    ) / 1_000_000
    assert cost_decimal(usage, SONNET_4) == expected == Decimal("0.7125")


# --- OpenAI -----------------------------------------------------------------------------------


def test_openai_uncached() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500)
    assert cost_decimal(usage, GPT_4O) == Decimal("0.0075")  # $0.0025 + $0.005


def test_openai_cached_input() -> None:
    # prompt_tokens 2,006 of which 1,920 cached, 300 completion tokens, on gpt-4o:
    # 86 × $2.50 + 1,920 × $1.25 + 300 × $10 per million.
    usage = Usage(input_tokens=2_006, cached_input_tokens=1_920, output_tokens=300)
    assert cost_decimal(usage, GPT_4O) == Decimal("0.005615")
    # The o1 formula from the OpenAI forum: (prompt − cached) × 15 + cached × 7.5 + out × 60.
    assert cost_decimal(usage, O1) == Decimal("0.033690")


def test_no_cache_prices_fall_back_to_the_input_price() -> None:
    # A vendor without cache prices bills reads and writes as ordinary input.
    flat = Pricing(input=2.00, output=8.00)
    usage = Usage(input_tokens=3_000, cached_input_tokens=1_000, cache_write_tokens=1_000)
    assert cost_decimal(usage, flat) == cost_decimal(Usage(input_tokens=3_000), flat)


# --- Google -----------------------------------------------------------------------------------


def test_gemini_uncached() -> None:
    # A 50K-token document summarised in 2K tokens: $0.0625 + $0.02 = $0.0825.
    usage = Usage(input_tokens=50_000, output_tokens=2_000)
    assert cost_decimal(usage, GEMINI_25_PRO) == Decimal("0.0825")


def test_gemini_cached_with_thinking() -> None:
    # promptTokenCount 11,500 with cachedContentTokenCount 10,000; thoughts 10,000 + candidates
    # 1,000 are output: $0.001875 + $0.00125 + $0.11 (discuss.ai.google.dev/t/107349, at the
    # published $10 output price).
    usage = Usage(input_tokens=11_500, cached_input_tokens=10_000, output_tokens=11_000)
    assert cost_decimal(usage, GEMINI_25_PRO) == Decimal("0.113125")


def test_gemini_long_context() -> None:
    # 300K-token prompt, 100K of it cached, 1K out: every part at the > 200K prices.
    usage = Usage(input_tokens=300_000, cached_input_tokens=100_000, output_tokens=1_000)
    # 200,000 × 2.50 + 100,000 × 0.25 + 1,000 × 15 = 500,000 + 25,000 + 15,000
    assert cost_decimal(usage, GEMINI_25_PRO) == Decimal("0.54")


# --- odds and ends ------------------------------------------------------------------------------


def test_local_models_cost_nothing_in_cash() -> None:
    local = Pricing(input=0, output=0, gpu_hour_usd=2.5)
    assert cost_usd(Usage(input_tokens=10_000, output_tokens=10_000), local) == 0.0


def test_inconsistent_usage_is_billed_not_dropped(caplog: pytest.LogCaptureFixture) -> None:
    usage = Usage(input_tokens=10, cached_input_tokens=100, output_tokens=0)
    assert cost_decimal(usage, GPT_4O) == Decimal("0.000125")  # the 100 cached tokens
    assert "larger than input_tokens" in caplog.text


def test_price_version_is_stable_and_sensitive() -> None:
    same = Pricing(
        input=3,
        output=15.0,
        cached_input=0.3,
        cache_write=3.75,
        cache_write_1h=6,
        long_context=LongContext(200_000, input=6, output=22.5, cached_input=0.6, cache_write=7.5),
    )
    assert price_version(same) == price_version(SONNET_4)  # 3 and 3.00 are one price
    assert len(price_version(SONNET_4)) == 12
    cheaper = Pricing(**{**SONNET_4.__dict__, "output": 14.0})
    assert price_version(cheaper) != price_version(SONNET_4)
    other_tier = Pricing(
        **{**SONNET_4.__dict__, "long_context": LongContext(100_000, input=6.0, output=22.5)}
    )
    assert price_version(other_tier) != price_version(SONNET_4)


def test_prices_worked_out_once_still_follow_a_directory_update() -> None:
    # What billing needs of a price is worked out once per price object (every attempt books a
    # record): a directory's Pricing (frozen, but unhashable: its schedule is a list) is kept by
    # identity, so a reloaded directory with new prices is billed at the new ones.
    from directory.schema import Pricing as DirectoryPricing

    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    before = DirectoryPricing(input=1.0, output=2.0, source="test", schedule=[])
    after = before.model_copy(update={"output": 4.0})
    assert (cost_usd(usage, before), cost_usd(usage, before)) == (3.0, 3.0)
    assert cost_usd(usage, after) == 5.0
    assert price_version(after) != price_version(before) == price_version(before)


def test_a_mutable_stand_in_is_billed_at_its_prices_of_the_moment() -> None:
    class Mutable:  # hashable by identity, not frozen: nothing about it may be kept
        input, output = 1.0, 2.0
        cached_input = cache_write = cache_write_1h = gpu_hour_usd = None
        long_context = None

    prices = Mutable()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_usd(usage, prices) == 3.0
    prices.output = 4.0
    assert cost_usd(usage, prices) == 5.0
