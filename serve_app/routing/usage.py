"""What one attempt used: the usage its ledger record, its allowances and its metrics all book.

The provider's own count when it gave one. An attempt that ended before that count came (the
caller hung up, the upstream cut the stream midway) still used the provider: it is billed from
what is known, and its usage says `estimated`, so that no caller makes a call free by hanging up:

- input: the provider's count at the start of the stream when it gave one (`ChatChunk.
  usage_so_far`: Anthropic's message_start, with its cache parts), else the prompt estimate
  (`ChatRequest.estimated_prompt_tokens`, the one the allowances reserve by);
- output: what was delivered, at `canonical.estimated_tokens`, and no fewer than one token per
  content chunk (providers send at least one a chunk) nor than the provider counted so far.

An attempt that failed before any content (the provider refused or broke) or that the caller's
own error ended books only what the provider reported, usually nothing: providers do not bill
those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from deployments.canonical import ChatChunk, Usage, estimated_tokens
from serve_app.routing.failover import Outcome

Item = TypeVar("Item")


class ReportedUsage(Generic[Item]):
    """A whole answer's (or an embedding's) usage: the count the answer carries. If the caller
    went away before it came, the provider had the prompt: its estimate is booked."""

    __slots__ = ("_prompt_tokens", "_reported", "_usage_of")

    def __init__(
        self, usage_of: Callable[[Item], Usage | None], prompt_tokens: Callable[[], int]
    ) -> None:
        self._usage_of = usage_of
        self._prompt_tokens = prompt_tokens
        self._reported: Usage | None = None

    def add(self, item: Item) -> None:
        self._reported = self._usage_of(item) or self._reported

    def usage(self, outcome: Outcome) -> Usage:
        if self._reported is not None:
            return self._reported
        if outcome == "interrupted":
            return Usage(input_tokens=self._prompt_tokens(), estimated=True)
        return Usage()


class StreamedUsage:
    """A streamed chat attempt's usage: the final count the last chunk carries, else (the stream
    ended early, or its provider never said a total) the estimate of the module docstring."""

    __slots__ = ("_characters", "_deltas", "_prompt_tokens", "_reported", "_so_far")

    def __init__(self, prompt_tokens: Callable[[], int]) -> None:
        self._prompt_tokens = prompt_tokens  # called only when an estimate is needed
        self._reported: Usage | None = None
        self._so_far: Usage | None = None
        self._characters = 0  # of delivered text, tool names and arguments
        self._deltas = 0  # content chunks delivered

    def add(self, chunk: ChatChunk) -> None:
        if chunk.usage is not None:
            self._reported = chunk.usage
        if chunk.usage_so_far is not None:
            self._so_far = chunk.usage_so_far
        if chunk.text or chunk.tool_calls:
            self._deltas += 1
            self._characters += len(chunk.text)
            for call in chunk.tool_calls:
                self._characters += len(call.name or "") + len(call.arguments)

    def usage(self, outcome: Outcome) -> Usage:
        if self._reported is not None:
            return self._reported
        if outcome in ("failed", "caller_error"):
            return Usage()  # nothing went out (or the caller's own error): nothing billed
        so_far = self._so_far or Usage(input_tokens=self._prompt_tokens())
        delivered = max(estimated_tokens(self._characters), self._deltas)
        return so_far.model_copy(
            update={"output_tokens": max(so_far.output_tokens, delivered), "estimated": True}
        )
