"""Offline evaluation of a learned router between a strong and a weak model (issue 15, item 6).

Given outcome tables (`serve_app.learned.outcomes`), split the rows once with a fixed seed, train
on one part, and report on the held-out part what each way of routing costs at a target quality:

- **learned**: a per-prompt score (`serve_app.learned.prompt_scores`) says how well the weak
  model should do on the prompt; the prompt goes to the weak model when it clears a threshold.
  With several files the score is category-aware: it knows the category (file) the call came
  through, as the category router does (in Switchyard a learned policy serves one shortcut, and
  that shortcut is the call's category), beside the prompt's text; its threshold is chosen on the
  training rows the way the category router's categories are: the most calls to the weak model
  that keep the training rows at the target (`choose_threshold`). With one file the score is the
  text alone;
- **text only** (reported beside it): the text score alone, with no category, its threshold
  chosen on cross-validated training rows: lowered from all-strong until the quality first falls
  below the target (`safe_threshold`);
- **random**: each call goes to the strong model with the probability that reaches the target in
  expectation (computed exactly from the held-out accuracies, so it has no sampling noise);
- **category** (several files only): each file is a category; whole categories go to the weak
  model, those that lose least first, while the training part stays at the target;
- **oracle**: knows each answer: the fewest strong calls that reach the target.

Quality is the routed answers' accuracy over the strong model's on the same rows (0.95 = 95 % of
the strong model's quality). Cost assumes every call costs its model's blended price per token
times the same number of tokens (the tables have no token counts); `cost_saved` is against
sending every call to the strong model. The prompt features here are TF-IDF, not the embedding
model the live router would use: they need nothing but scikit-learn and run in seconds.

A threshold chosen on the training rows' in-sample category figures lands below the target on
held-out rows about as often as the category router's does (both pick what happened to go well
on the training half); `quality` says where it landed, and `cost_saved_at_category_quality`
compares the two routers at one quality. `cost_saved_at_target` reads the learned router's
threshold off the held-out curve at the target itself (as RouteLLM reads its savings), beside
`shuffled_cost_saved_at_target`, the same reading for rankings that know nothing: on a table of
a hundred rows that reading alone is worth several points. One split of a small table says
little; `serve_app.learned.over_splits` runs many.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from serve_app.learned.outcomes import Outcomes
from serve_app.learned.prompt_scores import category_aware_scores, text_scores

Mask = NDArray[np.bool_]
SHUFFLES = 20  # random rankings averaged for `Report.shuffled_cost_saved_at_target`


@dataclass(frozen=True)
class Prices:
    strong: float
    weak: float

    def cost_saved(self, strong_share: float) -> float:
        cost = strong_share * self.strong + (1 - strong_share) * self.weak
        return 1 - cost / self.strong


@dataclass(frozen=True)
class Report:
    """Held-out figures, each a fraction; `category_cost_saved` is None for a single table."""

    rows_train: int
    rows_test: int
    target: float
    strong_share: float
    quality: float
    cost_saved: float
    random_cost_saved: float
    oracle_cost_saved: float
    category_cost_saved: float | None
    category_quality: float | None
    # The learned router's saving at the category router's held-out quality, its threshold read
    # off the held-out curve: a like-for-like comparison of how the two rank prompts (the two
    # chosen thresholds land at different qualities), not a saving a deployed router would see.
    cost_saved_at_category_quality: float | None
    # The learned router's saving at the target itself, its threshold read off the held-out
    # curve as RouteLLM reads its cost savings at a quality: how well it ranks prompts, beside
    # random routing at the same quality, not a saving a deployed router would see.
    cost_saved_at_target: float
    # The same reading for rankings with no information (random scores, the mean of
    # `SHUFFLES`): reading a threshold off a noisy held-out curve flatters any ranking on a
    # small table, so this, not random routing's expectation, is what `cost_saved_at_target`
    # must beat to show the prompts told the router something.
    shuffled_cost_saved_at_target: float
    # The text-only router (no category) beside it: its held-out quality, saving, and saving at
    # the category router's quality; equal to the learned router's with one file.
    text_only_quality: float
    text_only_cost_saved: float
    text_only_cost_saved_at_category_quality: float | None
    # The learned router's held-out (strong share, quality) at every threshold, for the plot.
    curve: list[tuple[float, float]] = field(default_factory=list)

    def figures(self) -> dict[str, float | int | None]:
        return {
            "rows_train": self.rows_train,
            "rows_test": self.rows_test,
            "target": self.target,
            "strong_share": self.strong_share,
            "cost_saved": self.cost_saved,
            "quality": self.quality,
            "random_cost_saved": self.random_cost_saved,
            "category_cost_saved": self.category_cost_saved,
            "oracle_cost_saved": self.oracle_cost_saved,
            "category_quality": self.category_quality,
            "cost_saved_at_category_quality": self.cost_saved_at_category_quality,
            "cost_saved_at_target": self.cost_saved_at_target,
            "shuffled_cost_saved_at_target": self.shuffled_cost_saved_at_target,
            "text_only_quality": self.text_only_quality,
            "text_only_cost_saved": self.text_only_cost_saved,
            "text_only_cost_saved_at_category_quality": (
                self.text_only_cost_saved_at_category_quality
            ),
        }


def quality_of(to_strong: Mask, strong: Mask, weak: Mask) -> float:
    """Accuracy of the routed answers over the strong model's on the same rows."""
    strong_right = float(strong.mean())
    routed = np.where(to_strong, strong, weak).mean()
    return float(routed) / strong_right if strong_right else 1.0


def random_strong_share(strong: Mask, weak: Mask, target: float) -> float:
    """The strong share at which random routing reaches `target` in expectation."""
    acc_strong, acc_weak = float(strong.mean()), float(weak.mean())
    if acc_strong <= acc_weak:
        return 0.0
    share = (target * acc_strong - acc_weak) / (acc_strong - acc_weak)
    return min(1.0, max(0.0, share))


def oracle_strong_share(strong: Mask, weak: Mask, target: float) -> float:
    """The fewest strong calls that reach `target`: only rows the weak model gets wrong and the
    strong one right are worth a strong call, each adding one right answer."""
    n = len(strong)
    needed = int(np.ceil(target * float(strong.sum()) - float(weak.sum()) - 1e-9))
    useful = int((strong & ~weak).sum())
    return min(max(needed, 0), useful) / n


def quality_by_threshold(
    scores: NDArray[np.float64], strong: Mask, weak: Mask
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(each distinct score, the quality when the rows scoring below it go to the strong
    model), as `quality_of` gives it, in one pass over the rows sorted by score."""
    order = np.argsort(scores, kind="stable")
    thresholds = np.unique(scores)
    first_row = np.searchsorted(scores[order], thresholds, side="left")
    gain = (strong.astype(np.int64) - weak.astype(np.int64))[order]
    gained = np.concatenate([[0], np.cumsum(gain)])  # right answers won by the strong calls
    n = len(scores)
    strong_right = float(strong.sum()) / n
    if not strong_right:
        return thresholds, np.ones(len(thresholds))
    right = float(weak.sum()) + gained[first_row]
    return thresholds, (right / n) / strong_right


def choose_threshold(scores: NDArray[np.float64], strong: Mask, weak: Mask, target: float) -> float:
    """The lowest threshold (most calls to the weak model) that keeps quality at `target`."""
    thresholds, quality = quality_by_threshold(scores, strong, weak)
    reaching = np.flatnonzero(quality >= target)
    if not len(reaching):
        return float("inf")  # nothing short of all-strong reaches it
    return float(thresholds[reaching[0]])


def safe_threshold(scores: NDArray[np.float64], strong: Mask, weak: Mask, target: float) -> float:
    """The lowest threshold above which quality stays at `target` all the way to all-strong.

    Lowering the threshold from all-strong, quality falls with noise; `choose_threshold` takes
    the lowest point where the noisy curve happens to touch the target again, which on held-out
    rows lands below it (on half the MMLU tables, 94.0 % on average for a 95 % target). This
    stops at the first fall below the target instead (94.5 % there)."""
    thresholds, quality = quality_by_threshold(scores, strong, weak)
    falling = np.flatnonzero(quality < target)
    if not len(falling):
        return float(thresholds[0])
    # The first fall going down from all-strong is the highest threshold below the target.
    above = falling[-1] + 1
    return float(thresholds[above]) if above < len(thresholds) else float("inf")


def _category_weak_set(outcomes: Outcomes, train: NDArray[np.intp], target: float) -> set[str]:
    categories = np.array(outcomes.categories)[train]
    strong = np.array(outcomes.strong)[train]
    weak = np.array(outcomes.weak)[train]
    # Right answers lost by giving a category to the weak model, per call saved.
    loss = {
        c: float((strong[categories == c].astype(int) - weak[categories == c]).mean())
        for c in sorted(set(categories))
    }
    chosen: set[str] = set()
    for category in sorted(loss, key=lambda c: (loss[c], c)):
        trial = chosen | {category}
        if quality_of(~np.isin(categories, list(trial)), strong, weak) >= target:
            chosen = trial
    return chosen


def evaluate(
    outcomes: Outcomes, prices: Prices, *, target: float, seed: int, test_size: float = 0.5
) -> Report:
    from sklearn.model_selection import train_test_split

    strong, weak = np.array(outcomes.strong), np.array(outcomes.weak)
    categories = np.array(outcomes.categories)
    train, test = train_test_split(
        np.arange(len(outcomes)), test_size=test_size, random_state=seed, stratify=categories
    )
    s_train, w_train, s_test, w_test = strong[train], weak[train], strong[test], weak[test]
    text = text_scores(outcomes.prompts, weak | ~strong, train, test, seed)
    text_to_strong = text[1] < safe_threshold(text[0], s_train, w_train, target)
    several = len(set(outcomes.categories)) > 1
    if several:
        weak_gain = weak.astype(np.int_) - strong.astype(np.int_)
        train_scores, test_scores = category_aware_scores(
            outcomes.categories, weak_gain, text, train, test
        )
        to_strong = test_scores < choose_threshold(train_scores, s_train, w_train, target)
    else:
        test_scores, to_strong = text[1], text_to_strong

    category_saved = category_quality = saved_at_category_quality = text_at_category = None
    if several:
        weak_set = _category_weak_set(outcomes, train, target)
        category_to_strong = ~np.isin(categories[test], list(weak_set))
        category_saved = prices.cost_saved(float(category_to_strong.mean()))
        category_quality = quality_of(category_to_strong, s_test, w_test)
        saved_at_category_quality = _saved_at(test_scores, s_test, w_test, category_quality, prices)
        text_at_category = _saved_at(text[1], s_test, w_test, category_quality, prices)

    curve = [
        (float((test_scores < t).mean()), quality_of(test_scores < t, s_test, w_test))
        for t in np.quantile(test_scores, np.linspace(0, 1, 41))
    ]
    share = float(to_strong.mean())
    return Report(
        rows_train=len(train),
        rows_test=len(test),
        target=target,
        strong_share=share,
        quality=quality_of(to_strong, s_test, w_test),
        cost_saved=prices.cost_saved(share),
        random_cost_saved=prices.cost_saved(random_strong_share(s_test, w_test, target)),
        oracle_cost_saved=prices.cost_saved(oracle_strong_share(s_test, w_test, target)),
        category_cost_saved=category_saved,
        category_quality=category_quality,
        cost_saved_at_category_quality=saved_at_category_quality,
        cost_saved_at_target=_saved_at(test_scores, s_test, w_test, target, prices),
        shuffled_cost_saved_at_target=_shuffled_saved_at(s_test, w_test, target, prices, seed),
        text_only_quality=quality_of(text_to_strong, s_test, w_test),
        text_only_cost_saved=prices.cost_saved(float(text_to_strong.mean())),
        text_only_cost_saved_at_category_quality=text_at_category,
        curve=curve,
    )


def _saved_at(
    scores: NDArray[np.float64], strong: Mask, weak: Mask, quality: float, prices: Prices
) -> float:
    """The saving at `quality`, the threshold read off these (held-out) rows' own curve."""
    threshold = choose_threshold(scores, strong, weak, quality)
    return prices.cost_saved(float((scores < threshold).mean()))


def _shuffled_saved_at(
    strong: Mask, weak: Mask, quality: float, prices: Prices, seed: int
) -> float:
    """`_saved_at` for rankings that know nothing (random scores), averaged over `SHUFFLES`."""
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                _saved_at(rng.random(len(strong)), strong, weak, quality, prices)
                for _ in range(SHUFFLES)
            ]
        )
    )
