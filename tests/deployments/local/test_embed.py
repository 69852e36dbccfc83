"""LocalModel serving the real all-MiniLM-L6-v2 on vLLM's CPU engine (pooling runner)."""

from __future__ import annotations

import math

import pytest

from deployments.canonical import EmbeddingRequest
from deployments.errors import ContextLengthExceeded
from deployments.local import LocalModel

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="session")]

SENTENCE = "The cat sits on the mat."
PARAPHRASE = "A cat is sitting on a rug."
UNRELATED = "Quarterly revenue grew by eight percent in Europe."


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_embeddings_rank_meaning(embed_model: LocalModel) -> None:
    result = await embed_model.embed(
        EmbeddingRequest(
            model="all-minilm-l6-v2", inputs=[SENTENCE, SENTENCE, PARAPHRASE, UNRELATED]
        )
    )

    same, again, paraphrase, unrelated = result.vectors
    assert all(len(vector) == 384 for vector in result.vectors)
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-3) for v in result.vectors)
    assert cosine(same, again) == pytest.approx(1.0, abs=1e-4)
    assert cosine(same, unrelated) < 0.3
    assert cosine(same, paraphrase) > cosine(same, unrelated) + 0.2
    assert result.usage.input_tokens > 4 * 4  # four sentences, [CLS] and [SEP] each
    assert result.provider_model == "local/all-minilm-l6-v2"


async def test_an_input_longer_than_the_window_is_a_context_length_error(
    embed_model: LocalModel,
) -> None:
    too_long = EmbeddingRequest(model="all-minilm-l6-v2", inputs=["word " * 2000])

    with pytest.raises(ContextLengthExceeded):
        await embed_model.embed(too_long)
