"""Deterministic text, token counting and embeddings for the sandbox providers.

The token rule, the same for all three sandboxes: a token is a whitespace-separated word
(`len(text.split())`). Nothing here is random: every output is a function of its key, so the same
request gets the same answer from every sandbox, every run.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from typing import Any

# 64 words, so one byte of a digest picks one word with no bias (256 % 64 == 0).
VOCAB: tuple[str, ...] = (
    "sandbox", "switch", "yard", "signal", "rail", "route", "junction", "lantern",
    "freight", "platform", "timetable", "engine", "carriage", "siding", "depot", "ticket",
    "gateway", "harbour", "bridge", "river", "valley", "summit", "meadow", "orchard",
    "copper", "silver", "amber", "cobalt", "violet", "scarlet", "ivory", "onyx",
    "quiet", "steady", "bright", "patient", "nimble", "careful", "gentle", "early",
    "model", "token", "answer", "request", "stream", "budget", "ledger", "breaker",
    "north", "south", "east", "west", "morning", "evening", "winter", "summer",
    "one", "two", "three", "four", "five", "six", "seven", "eight",
)  # fmt: skip

_PIECE = re.compile(r"\s*\S+|\s+$")


def count_words(text: str) -> int:
    """Tokens in `text` under the sandbox rule: whitespace-separated words."""
    return len(text.split())


def key_digest(key: str, size: int = 12) -> str:
    """A short hex digest of `key`, for ids that stay the same for the same request."""
    return hashlib.blake2b(key.encode(), digest_size=size).hexdigest()


def generate_text(key: str, n_words: int) -> str:
    """`n_words` words drawn from VOCAB by a hash of `key`, as a sentence: capitalised, with a
    period."""
    if n_words <= 0:
        return ""
    words = [VOCAB[b & 63] for b in hashlib.shake_256(key.encode()).digest(n_words)]
    words[0] = words[0].capitalize()
    words[-1] += "."
    return " ".join(words)


def pieces(text: str) -> list[str]:
    """`text` split into stream deltas, one word each with its leading whitespace kept.

    `"".join(pieces(text)) == text` always holds, so a streamed answer concatenates to exactly the
    non-streamed one, and each piece but a trailing-whitespace one is one token.
    """
    return _PIECE.findall(text)


def sample_from_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A value that satisfies `schema`'s required properties, the way a cheap model would.

    Strings are "sandbox", numbers 1, booleans true, arrays hold one sample item; an object holds
    its required properties only. Understands JSON Schema and Gemini's Schema (upper-case types).
    """
    if not isinstance(schema, dict) or depth > 16:
        return "sandbox"
    if defs is None:
        defs = schema.get("$defs") or schema.get("definitions") or {}
    if isinstance(ref := schema.get("$ref"), str):
        return sample_from_schema(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(enum := schema.get("enum"), list) and enum:
        return enum[0]
    for combinator in ("anyOf", "oneOf", "allOf", "any_of"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and _type_of(o) == "null")]
            return sample_from_schema((usable or options)[0], defs, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        return {
            name: sample_from_schema(properties.get(name), defs, depth + 1) for name in required
        }
    if kind == "array":
        return [sample_from_schema(schema.get("items"), defs, depth + 1)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "sandbox"


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def embedding(key: str, dimensions: int) -> list[float]:
    """A unit vector of `dimensions` floats drawn by a hash of `key`."""
    raw = struct.unpack(f"<{dimensions}H", hashlib.shake_256(key.encode()).digest(2 * dimensions))
    centred = [v - 32767.5 for v in raw]
    norm = math.sqrt(sum(v * v for v in centred)) or 1.0
    return [v / norm for v in centred]
