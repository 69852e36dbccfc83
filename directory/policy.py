"""Policy shortcuts: which model meets a `select:` policy best, and why (rule in FORMAT.md).

A model qualifies when it is of the policy's kind, has its features and privacy, a large enough
context window, and for every `min_scores` entry a *confidence-adjusted* score at or above the
minimum, so that a confident 78 can beat a vendor's unverified 85. Qualifying models are ranked by
the objective; the loader keeps the whole ranking, so `switchyard route` can name the runner-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from directory.pricing import todays_blended
from directory.pricing import usd as usd  # re-exported: the CLI formats prices with it
from directory.schema import ModelProfile, Ranked, ScoreName, Select, Selection, Shortcut

GENERAL_SCORES: tuple[ScoreName, ...] = ("reasoning", "coding", "tool_calling")


def tokens(count: int) -> str:
    """A token count as vendors write it: 200K, 128K (131072), 1M (1048576), 1.5M."""
    # Powers of two are counted in binary units (131072 is "128K"), round numbers in decimal.
    unit = 1024 if count % 1024 == 0 else 1000
    if count >= unit * unit:
        return f"{count / (unit * unit):.2f}".rstrip("0").rstrip(".") + "M"
    if count >= unit:
        return f"{count / unit:.0f}K"
    return str(count)


def effective_price(model: ModelProfile, now: datetime) -> float:
    """Today's marginal USD per million tokens at a 3:1 input:output mix (see
    `directory.pricing.todays_blended` for a price that changes by the hour); local models
    cost none."""
    return 0.0 if model.privacy == "local" else todays_blended(model.pricing, now)


def price_words(model: ModelProfile, now: datetime | None = None) -> str:
    """The model's price today (`now`; None: the clock's now), in words."""
    now = now or datetime.now(UTC)
    p = model.pricing
    if model.free_tier is not None:
        return f"free tier, then its paid twin {model.free_tier.paid_twin}"
    if model.privacy == "local":
        gpu = f" (GPU {usd(p.gpu_hour_usd)}/h)" if p.gpu_hour_usd is not None else ""
        return f"local, no per-token price{gpu}"
    today = p.in_force(now)
    if today.label == "base" or today.blended() == effective_price(model, now):
        return (
            f"{usd(today.input)} in / {usd(today.output)} out per Mtok "
            f"(blended {usd(today.blended())})"
        )
    # A time-of-day price: the week's average is what ranks it; now's price is one window's.
    return (
        f"{usd(today.input)} in / {usd(today.output)} out per Mtok now ({today.label}), "
        f"blended {usd(effective_price(model, now))} over the week"
    )


def qualifies(model: ModelProfile, select: Select) -> bool:
    if model.kind != select.kind or model.free_tier is not None:
        # Free-tier entries never win: they are reached through their paid twin's accounting.
        return False
    if select.privacy != "any" and model.privacy != select.privacy:
        return False
    if model.context_window < select.min_context_window:
        return False
    if not all(model.has_feature(feature) for feature in select.features):
        return False
    scores = model.scores
    if scores is None:
        return not select.min_scores
    return all(scores.get(name).adjusted() >= low for name, low in select.min_scores.items())


def _mean_adjusted(model: ModelProfile, select: Select) -> float:
    if model.scores is None or not select.best_by:
        return 0.0
    scores = model.scores
    return sum(scores.get(name).adjusted() for name in select.best_by) / len(select.best_by)


def _rank_key(model: ModelProfile, select: Select, now: datetime) -> tuple[float, float, str]:
    # Every key ends with the id so that equal models always rank the same way.
    speed = model.latency.output_tokens_per_s or 0.0
    if select.objective == "cheapest":
        return (effective_price(model, now), -speed, model.id)
    if select.objective == "fastest":
        return (-speed, model.latency.ttft_ms, model.id)
    return (-_mean_adjusted(model, select), effective_price(model, now), model.id)


def _measure(model: ModelProfile, select: Select, now: datetime) -> str:
    if select.objective == "cheapest":
        return price_words(model, now)
    if select.objective == "fastest":
        speed = model.latency.output_tokens_per_s
        rate = f"{speed:.0f} tok/s, " if speed is not None else ""
        return f"{rate}TTFT {model.latency.ttft_ms:.0f} ms"
    return f"mean adjusted {', '.join(select.best_by)} {_mean_adjusted(model, select):.1f}"


def criteria(select: Select) -> str:
    """The policy's requirements in words, e.g. "extraction >= 80 (adjusted); json_schema"."""
    parts = [f"{select.kind} models"]
    if select.min_scores:
        minimums = ", ".join(f"{name} >= {value:g}" for name, value in select.min_scores.items())
        parts.append(f"{minimums} (confidence-adjusted)")
    if select.features:
        parts.append("features " + ", ".join(select.features))
    if select.privacy != "any":
        parts.append(f"privacy {select.privacy}")
    if select.min_context_window:
        parts.append(f"context >= {tokens(select.min_context_window)}")
    return "; ".join(parts)


def select_model(
    shortcut: str, select: Select, models: Iterable[ModelProfile], now: datetime
) -> Selection | None:
    """The policy's ranking over `models` at today's prices (`now`), or None when no model
    qualifies."""
    pool = [m for m in models if m.kind == select.kind and m.free_tier is None]
    qualifying = (m for m in pool if qualifies(m, select))
    ranked = sorted(qualifying, key=lambda m: _rank_key(m, select, now))
    if not ranked:
        return None
    pick = ranked[0]
    explanation = (
        f"{select.objective} of {len(ranked)} qualifying out of {len(pool)} "
        f"({criteria(select)}): {_measure(pick, select, now)}"
    )
    return Selection(
        shortcut=shortcut,
        ranked=tuple(Ranked(model=m, measure=_measure(m, select, now)) for m in ranked),
        considered=len(pool),
        explanation=explanation,
    )


def key_scores(shortcut: Shortcut, count: int = 3) -> tuple[ScoreName, ...]:
    """The scores that say most about a shortcut: its policy's own, then general ones."""
    names: list[ScoreName] = []
    if shortcut.select is not None:
        names += [*shortcut.select.min_scores, *shortcut.select.best_by]
    return tuple(dict.fromkeys([*names, *GENERAL_SCORES]))[:count]
