"""The router trains on the vectors the live embed model gives.

`switchyard router train` embeds prompts with all-MiniLM-L6-v2 in-process (transformers,
`serve_app.learned.embedding`); the live router asks the `embed` deployment (vLLM's pooling runner
over the same weights). A router is only valid if the two agree: cosine ≈ 1 for the same text,
short and long (past the 256 word-piece window the offline path cuts and the live path refuses,
which is why the router embeds only its first `max_chars` characters).
"""

from __future__ import annotations

import numpy as np
import pytest

from deployments.canonical import EmbeddingRequest
from deployments.local import LocalModel
from directory.routers import embedded_text
from serve_app.learned.train import MAX_CHARS

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="session")]

TEXTS = [
    "The cat sits on the mat.",
    "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
    "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:",
    # A long exam question: the router's cut (max_chars) must leave it inside the live window.
    embedded_text(
        "Which of the following best describes the balance the Supreme Court has struck "
        "between the establishment clause and the free-exercise clause? " * 12,
        MAX_CHARS,
    ),
]


async def test_offline_vectors_match_the_live_embed_model(embed_model: LocalModel) -> None:
    pytest.importorskip("transformers")
    from serve_app.learned.embedding import MiniLM

    live = await embed_model.embed(EmbeddingRequest(model="all-minilm-l6-v2", inputs=TEXTS))
    offline = MiniLM().embed(TEXTS)

    live_vectors = np.array(live.vectors)
    assert live_vectors.shape == offline.shape == (len(TEXTS), 384)
    cosines = (live_vectors * offline).sum(axis=1) / (
        np.linalg.norm(live_vectors, axis=1) * np.linalg.norm(offline, axis=1)
    )
    assert cosines.min() > 0.9999, cosines
    # And not trivially: different texts are far apart in both.
    assert float(offline[0] @ offline[1]) < 0.5
