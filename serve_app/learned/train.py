"""Train the router a `learned:` shortcut serves (issue 15, item 5): outcomes in, artifact out.

The features are the prompt's all-MiniLM-L6-v2 embedding (`serve_app.learned.embedding`, the same
vectors the live `embed` model gives); the model is a logistic regression estimating the chance
that the weak model does no worse than the strong one on the prompt, the same target as
`router_eval`. Its threshold is chosen the same way and by the same function
(`router_eval.choose_threshold`): on cross-validated predictions over the training rows, the
lowest that keeps quality at the target share of the strong model's. The artifact is plain JSON
(`directory/routers.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
from numpy.typing import NDArray

from directory.routers import FORMAT, RouterArtifact, Step, Training, embedded_text
from serve_app.learned.embedding import DIMENSIONS, MODEL_ID
from serve_app.learned.outcomes import Outcomes
from serve_app.learned.router_eval import choose_threshold, quality_of

MAX_CHARS = 800  # of each prompt, embedded in training and live alike (see RouterArtifact)
C_GRID = (0.1, 1.0, 10.0, 100.0)  # logistic regression's inverse regularisation, tried in turn
NEVER = 2.0  # a threshold no probability reaches: the target needs every call on the strong model


def fit_router(
    outcomes: Outcomes,
    vectors: NDArray[np.float32],
    *,
    target: float,
    source: str,
    strong_column: str,
    weak_column: str,
    seed: int = 0,
    today: date | None = None,
) -> RouterArtifact:
    """A router between one weak and one strong model from `vectors` (one row per outcome)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    strong, weak = np.array(outcomes.strong), np.array(outcomes.weak)
    weak_no_worse = weak | ~strong
    if len(set(weak_no_worse)) < 2:
        raise ValueError("the rows have one outcome only: nothing to learn from")
    # The regularisation is chosen like the threshold, on cross-validated predictions: the
    # strength that sends the fewest calls to the strong model at the target. (Unit vectors in
    # 384 dimensions need weaker regularisation than scikit-learn's default C=1 to separate.)
    best: tuple[float, float, float, NDArray[np.float64]] | None = None
    for c in C_GRID:
        classifier = LogisticRegression(C=c, max_iter=5000, random_state=seed)
        cross = cross_val_predict(classifier, vectors, weak_no_worse, cv=5, method="predict_proba")
        scores = cross[:, 1]
        threshold = choose_threshold(scores, strong, weak, target)
        share = float((scores < threshold).mean())
        if best is None or share < best[0]:
            best = (share, c, threshold, scores)
    assert best is not None
    _, c, threshold, scores = best
    to_strong = scores < threshold
    classifier = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    classifier.fit(vectors, weak_no_worse)
    return RouterArtifact(
        format=FORMAT,
        embedding_model=MODEL_ID,
        dimensions=DIMENSIONS,
        max_chars=MAX_CHARS,
        target_quality=target,
        steps=[
            Step(
                weights=[float(w) for w in classifier.coef_[0]],
                bias=float(classifier.intercept_[0]),
                threshold=min(threshold, NEVER),
            )
        ],
        training=Training(
            source=source,
            strong_column=strong_column,
            weak_columns=[weak_column],
            rows=len(outcomes),
            trained_on=today or date.today(),
            strong_share=float(to_strong.mean()),
            quality=quality_of(to_strong, strong, weak),
        ),
    )


def prompts_to_embed(prompts: Sequence[str]) -> list[str]:
    return [embedded_text(prompt, MAX_CHARS) for prompt in prompts]
