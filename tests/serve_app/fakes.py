"""Scriptable stand-ins for the gateway's collaborators, for tests that need no Ray cluster.

These replace Ray handles, the breaker actor and the ledger actor only in unit tests of the
routing rules; the integration tests run the real ones on a real cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    Usage,
)
from deployments.errors import ProviderServerError
from deployments.ledger.records import UsageRecord
from directory.schema import ModelProfile
from serve_app.routing.plan import Candidate

USAGE = Usage(input_tokens=10, output_tokens=3)


@dataclass
class ScriptedBackends:
    """Answers 'hello from <model>' unless `failures[model]` holds errors to raise first.

    `fail_after_chunks[model] = (n, error)` cuts a stream after n content chunks;
    `usage_so_far`, when set, rides on a stream's first content chunk (as Anthropic's
    message_start count does).
    """

    failures: dict[str, list[Exception]] = field(default_factory=dict)
    fail_after_chunks: dict[str, tuple[int, Exception]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    undeployed: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (model id, provider model)
    max_tokens: list[int | None] = field(default_factory=list)  # each chat request's, as sent
    usage_so_far: Usage | None = None

    def serves(self, model: ModelProfile) -> bool:
        return model.id not in self.undeployed

    def _maybe_fail(self, candidate: Candidate) -> None:
        pending = self.failures.get(candidate.model.id)
        if pending:
            raise pending.pop(0)

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        self.calls.append((candidate.model.id, request.model))
        self.max_tokens.append(request.max_tokens)
        if candidate.model.id in self.hang:
            await asyncio.sleep(3600)
        self._maybe_fail(candidate)
        return ChatResult(
            text=f"hello from {request.model}", usage=USAGE, provider_model=request.model
        )

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(candidate, request)

    async def _stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls.append((candidate.model.id, request.model))
        self.max_tokens.append(request.max_tokens)
        if candidate.model.id in self.hang:
            await asyncio.sleep(3600)
        self._maybe_fail(candidate)
        cut = self.fail_after_chunks.get(candidate.model.id)
        for index, word in enumerate(["hello ", "from ", request.model]):
            if cut is not None and index == cut[0]:
                raise cut[1]
            yield ChatChunk(text=word, usage_so_far=self.usage_so_far if index == 0 else None)
        yield ChatChunk(finish_reason="stop", usage=USAGE)

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        self._maybe_fail(candidate)
        return EmbeddingResult(vectors=[[1.0, 0.0]], provider_model=request.model)


@dataclass
class RecordingHealth:
    down: set[str] = field(default_factory=set)
    outcomes: list[tuple[str, bool]] = field(default_factory=list)

    def is_available(self, provider: str) -> bool:
        return provider not in self.down

    def could_probe(self, provider: str) -> bool:
        return False

    def try_acquire_probe(self, provider: str) -> bool:
        return False

    def release_probe(self, provider: str) -> None:
        pass

    def record(self, provider: str, ok: bool, error: BaseException | None = None) -> None:
        self.outcomes.append((provider, ok))


@dataclass
class RecordingLedger:
    records: list[UsageRecord] = field(default_factory=list)

    def book(self, record: UsageRecord) -> None:
        self.records.append(record)


def server_error(provider: str) -> ProviderServerError:
    return ProviderServerError("sandbox 500", provider=provider, status=500)
