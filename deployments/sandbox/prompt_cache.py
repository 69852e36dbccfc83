"""The Anthropic sandbox's prompt cache: what a request's `cache_control` marks read from, and
write to, a cache that lives as long as the sandbox app.

As Anthropic's prompt-caching page describes it (platform.claude.com/docs/en/build-with-claude/
prompt-caching, read 2026-12-06 in a stored mirror): the prompt is the tools, then the system
blocks, then the messages' blocks, in that order; a block marked with `cache_control` (or, with
a top-level `cache_control`, the last block) ends a cacheable prefix. A request whose marked
prefix an earlier request wrote reads it (`cache_read_input_tokens`); the rest of the prompt up to
its last mark is written (`cache_creation_input_tokens`, of which a `"ttl": "1h"` mark's share is
`cache_creation.ephemeral_1h_input_tokens`). A prefix shorter than `MIN_CACHEABLE_TOKENS` is not
cached at all, as Anthropic's minimum cacheable length says. Lifetimes are not kept: the sandbox
forgets nothing while it runs.

Tokens are words, as everywhere in the sandbox (`text.count_words`); tool definitions count no
words, since the sandbox's input count leaves them out too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from deployments.sandbox.text import count_words

MIN_CACHEABLE_TOKENS = 1024  # Anthropic's minimum for most models (some need more)


@dataclass(frozen=True, slots=True)
class CacheUse:
    read: int = 0
    written: int = 0
    written_1h: int = 0  # the part of `written` cached for an hour


@dataclass(frozen=True, slots=True)
class _Mark:
    tokens: int  # the prefix's words, through the marked block
    digest: str  # the prefix's content
    one_hour: bool


class PromptCache:
    """The prefixes earlier requests wrote, by digest."""

    def __init__(self) -> None:
        self._written: set[str] = set()

    def use(self, body: dict[str, Any]) -> CacheUse:
        """What `body` reads and writes; its marked prefixes are cached from now on."""
        marks = [m for m in _marks(body) if m.tokens >= MIN_CACHEABLE_TOKENS]
        if not marks:
            return CacheUse()
        read = max((m.tokens for m in marks if m.digest in self._written), default=0)
        last = marks[-1]
        self._written.update(m.digest for m in marks)
        written = max(0, last.tokens - read)
        return CacheUse(read=read, written=written, written_1h=written if last.one_hour else 0)


def _marks(body: dict[str, Any]) -> list[_Mark]:
    """Each marked block's prefix, in prompt order."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
    blocks = tools + _blocks(body)
    automatic = body.get("cache_control")
    running = hashlib.sha256()
    tokens = 0
    marks = []
    for index, block in enumerate(blocks):
        control = block.get("cache_control")
        if control is None and automatic is not None and index == len(blocks) - 1:
            control = automatic
        content = {k: v for k, v in block.items() if k != "cache_control"}
        running.update(json.dumps(content, sort_keys=True).encode())
        if index >= len(tools):
            tokens += count_words(_text(block))
        if isinstance(control, dict):
            one_hour = control.get("ttl") == "1h"
            marks.append(_Mark(tokens, running.copy().hexdigest(), one_hour))
    return marks


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The system blocks, then every message's blocks (a string is one text block)."""
    system = body.get("system")
    blocks = _content(system) if system is not None else []
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            role = message.get("role")
            blocks += [{**b, "role": role} for b in _content(message.get("content"))]
    return blocks


def _content(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text(block: dict[str, Any]) -> str:
    if isinstance(block.get("text"), str):
        return str(block["text"])
    if block.get("type") == "tool_result":
        return " ".join(_text(b) for b in _content(block.get("content")))
    return ""
