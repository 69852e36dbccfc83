"""Per-prompt scores for `router_eval`: how well the weak model should do on each prompt.

A higher score means the weak model is the safer bet; a router sends a prompt to the weak model
when its score clears a threshold. Each scorer returns scores for the training rows (those a
threshold is chosen on) and for the held-out rows.

- `text_scores`: TF-IDF of the prompt's words and word pairs, a logistic regression estimating
  the chance that the weak model does no worse than the strong one (it is right, or both are
  wrong). Its training-row scores are 5-fold cross-validated, so a threshold chosen on them has
  not seen its own rows.
- `category_aware_scores`: the text score beside the category the call came through (the file
  of an outcome table). In Switchyard a learned policy serves one shortcut and that shortcut is
  the call's category, so a deployed router knows it at decision time, as the category router
  does. A ridge regression on [one column per category, the text score's log-odds] estimates the
  weak model's gain (right minus the strong model's right: -1, 0 or 1): the category columns
  give each category its training rows' mean gain, as the category router ranks categories, and
  the text term orders prompts within and across categories. Its training-row scores use the
  category means of those same rows (as the category router does) and the cross-validated text
  scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Scores = NDArray[np.float64]
Rows = NDArray[np.intp]


def text_scores(
    prompts: Sequence[str], weak_no_worse: NDArray[np.bool_], train: Rows, test: Rows, seed: int
) -> tuple[Scores, Scores]:
    """(cross-validated scores of the training rows, scores of the held-out rows), each the
    estimated chance that the weak model does no worse."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    fewest = int(min(weak_no_worse[train].sum(), (~weak_no_worse[train]).sum()))
    if fewest == 0:
        raise ValueError("the training rows have one outcome only: nothing to learn from")
    if fewest < 2:
        raise ValueError(
            "only one training row has the rarer outcome (the weak model doing worse than the "
            "strong one, or no worse): too few to cross-validate on"
        )
    text = np.array(prompts, dtype=object)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features_train = vectorizer.fit_transform(text[train])
    classifier = LogisticRegression(max_iter=2000, random_state=seed)
    # Five folds, or fewer when the rarer outcome has fewer rows: every fold's training part
    # must hold both outcomes (a small table where one model is almost always right).
    folds = StratifiedKFold(n_splits=min(5, fewest))
    cross = cross_val_predict(
        classifier, features_train, weak_no_worse[train], cv=folds, method="predict_proba"
    )[:, 1]
    classifier.fit(features_train, weak_no_worse[train])
    held_out = classifier.predict_proba(vectorizer.transform(text[test]))[:, 1]
    return np.asarray(cross, dtype=np.float64), np.asarray(held_out, dtype=np.float64)


def category_aware_scores(
    categories: Sequence[str],
    weak_gain: NDArray[np.int_],
    text: tuple[Scores, Scores],
    train: Rows,
    test: Rows,
) -> tuple[Scores, Scores]:
    """(training-row scores, held-out scores), each the estimated weak-model gain on the prompt
    given its category and its text score (`text` as `text_scores` returns it)."""
    from sklearn.linear_model import Ridge

    names = sorted(set(categories))
    column = {name: i for i, name in enumerate(names)}
    of_row = np.array([column[c] for c in categories])

    def features(rows: Rows, chance: Scores) -> NDArray[np.float64]:
        one_hot = np.zeros((len(rows), len(names)))
        one_hot[np.arange(len(rows)), of_row[rows]] = 1.0
        clipped = np.clip(chance, 1e-6, 1 - 1e-6)
        return np.hstack([one_hot, np.log(clipped / (1 - clipped))[:, None]])

    # The category columns stand in for an intercept (one per category), hence none besides.
    model = Ridge(alpha=1.0, fit_intercept=False)
    train_features = features(train, text[0])
    model.fit(train_features, weak_gain[train])
    return (
        np.asarray(model.predict(train_features), dtype=np.float64),
        np.asarray(model.predict(features(test, text[1])), dtype=np.float64),
    )
