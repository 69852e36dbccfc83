"""A tiny Llama with random weights, built on first use, for development and CI on a CPU.

No weights can be downloaded on the development machines, yet the local-model path must run the
real vLLM engine end to end. So this module builds, once per cache folder, a Llama-architecture
model small enough to build in seconds (hidden 256, 4 heads of 64, 2 layers) with a byte-level BPE
tokenizer trained on the spot on a built-in corpus, saved in the Hugging Face layout vLLM loads.

Its answers are gibberish: the weights are random. Everything that shows it says so
(`TINY_MODEL_LABEL`).

Building is deterministic (fixed seeds), idempotent, and safe under concurrent builders: each
builder writes into its own temporary folder beside the target and renames it into place; the
rename is atomic, and a builder that loses the race throws its copy away.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

TINY_MODEL_ID = "local/tiny-llama-dev"
TINY_MODEL_LABEL = "random weights, gibberish — development only"

# Bump when the files built change, so that an old cache is not reused.
_BUILD_NAME = "tiny-llama-v1"
_SEED = 1234

VOCAB_SIZE = 512
HIDDEN_SIZE = 256
NUM_HEADS = 4  # head size 64: vLLM's CPU attention takes 32, 64, 80, … only
NUM_LAYERS = 2
MAX_POSITIONS = 2048

_SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]

# One turn per message, each closed by </s>; the model's turn starts after "<|assistant|>".
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# A few hundred words of ordinary English, enough for a ~250-merge BPE to learn common pieces.
_CORPUS = """
Switchyard routes every call to the model that suits the task. A caller names a shortcut such as
smart, fast or workhorse, or a model id, and the gateway resolves it from a directory of profiles.
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with one step.
Please summarise the following text in three sentences. Extract the names and dates from this
letter. Translate the paragraph into French, German and Spanish. Write a short poem about the sea.
What is the capital of France? The capital of France is Paris. How many days are in a week? There
are seven days in a week. Explain how a hash table works, and when a tree is the better choice.
def add(a, b): return a + b. for item in items: print(item). import json, os, sys.
The weather today is sunny with a light breeze from the west, and rain is expected tomorrow.
Thank you for your message. I will look into it and get back to you as soon as I can.
Local models run on the team's own GPUs; cloud models are called through their providers' APIs.
Every attempt yields a usage record with input tokens, output tokens, cost, latency and outcome.
"""


def cache_root() -> Path:
    """Where built models live: $SWITCHYARD_CACHE, else ~/.cache/switchyard."""
    configured = os.environ.get("SWITCHYARD_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "switchyard"


def tiny_model_path(root: Path | None = None) -> Path:
    """The built model's folder (which may not exist yet: see `ensure_tiny_model`)."""
    return (root if root is not None else cache_root()) / _BUILD_NAME


def ensure_tiny_model(root: Path | None = None) -> Path:
    """The tiny model's folder, built first if it is not there yet."""
    target = tiny_model_path(root)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_BUILD_NAME}-", dir=target.parent))
    try:
        _build(staging)
        try:
            os.rename(staging, target)  # atomic; fails if another builder got there first
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _build(folder: Path) -> None:
    special_ids = _build_tokenizer(folder)
    _build_weights(folder, special_ids)


def _build_tokenizer(folder: Path) -> dict[str, int]:
    """Train and save the tokenizer; returns the ids of the special tokens."""
    # Imported here: tokenizers and transformers come with the local-cpu/gpu extras only.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    # Byte-level: any text encodes, with no unknown tokens, and decodes back exactly.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)

    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call, unused-ignore]
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        model_max_length=MAX_POSITIONS,
        chat_template=CHAT_TEMPLATE,
    )
    wrapped.save_pretrained(str(folder))
    ids = {token: tokenizer.token_to_id(token) for token in _SPECIAL_TOKENS}
    return {token: id_ for token, id_ in ids.items() if id_ is not None}


def _build_weights(folder: Path, ids: dict[str, int]) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=2 * HIDDEN_SIZE,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["</s>"],
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(_SEED)
    model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call, unused-ignore]
    model.save_pretrained(str(folder), safe_serialization=True)
