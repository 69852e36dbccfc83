"""The first-token deadline has one owner, the fail-over loop: real adapters through their SDKs
against the sandbox providers over loopback HTTP, called by the gateway in this process (what a
CloudProxy does, less the deployment hop).

alpha (the mini directory's primary provider) is the OpenAI sandbox, beta (its backup) the
Anthropic one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    Message,
)
from deployments.cloud import ChatAdapter, Timeouts, build_adapter
from deployments.sandbox import SandboxSet, start_sandboxes
from directory.schema import Directory, ModelProfile
from directory.schema import Timeouts as ProviderTimeouts
from serve_app.routing.call import CallOptions, ChatCall
from serve_app.routing.gateway import Gateway
from serve_app.routing.plan import Candidate
from tests.mini_directory import mini_directory
from tests.serve_app.fakes import RecordingHealth, RecordingLedger

SANDBOX_OF = {"alpha": "openai", "beta": "anthropic"}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


class AdapterBackends:
    """Each cloud provider's real adapter, with the transport timeouts a CloudProxy gives it,
    against sandboxes with no script left from an earlier test."""

    def __init__(self, sandboxes: SandboxSet) -> None:
        sandboxes.reset()
        self._adapters: dict[str, ChatAdapter] = {
            provider: build_adapter(
                kind, provider, sandboxes.url(kind), "sk-test", Timeouts(connect_s=2, total_s=30)
            )
            for provider, kind in SANDBOX_OF.items()
        }

    def serves(self, model: ModelProfile) -> bool:
        return model.provider in self._adapters

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._adapters[candidate.model.provider].stream(request)

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        return await self._adapters[candidate.model.provider].complete(request)

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        return await self._adapters[candidate.model.provider].embed(request)

    async def warm_up(self) -> None:
        """One answer from each, so that no attempt under test pays for a first connection."""
        for adapter in self._adapters.values():
            await adapter.complete(
                ChatRequest(model="warm-up", messages=[Message(role="user", content="hi")])
            )

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()


async def slow_first_token(sandboxes: SandboxSet, kind: str, model: str, ttft_ms: int) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{sandboxes.root_url(kind)}/_sandbox/script",
            json={"model": model, "fault": "slow_first_token", "ttft_ms": ttft_ms},
        )
        response.raise_for_status()


def with_first_token_s(directory: Directory, provider: str, seconds: float) -> Directory:
    """The directory with `provider`'s providers.yaml `timeouts.first_token_s` set."""
    entry = directory.providers[provider]
    timeouts = ProviderTimeouts(connect_s=5, first_token_s=seconds, total_s=300)
    providers = {**directory.providers, provider: entry.model_copy(update={"timeouts": timeouts})}
    return Directory(
        providers=providers,
        models=directory.models,
        shortcuts=directory.shortcuts,
        selections=directory.selections,
    )


def smart(**options: float) -> ChatCall:
    request = ChatRequest(model="", messages=[Message(role="user", content="hi")], max_tokens=50)
    return ChatCall(name="smart", request=request, options=CallOptions(**options))


async def test_a_slow_first_token_fails_over_at_the_providers_deadline(
    sandboxes: SandboxSet,
) -> None:
    backends = AdapterBackends(sandboxes)
    await backends.warm_up()
    await slow_first_token(sandboxes, "openai", "a1", ttft_ms=10_000)
    directory = with_first_token_s(mini_directory(), "alpha", 1.0)
    gateway = Gateway(directory, backends, RecordingHealth(), RecordingLedger())
    try:
        answer = gateway.stream(smart())
        text = "".join([chunk.text async for chunk in answer])
        assert text
        attempts = [(a.model, a.error_kind) for a in answer.route.attempts]
        assert attempts == [("alpha/a1", "ProviderTimeout"), ("beta/b1", None)]
        assert "no first token within 1s" in (answer.route.attempts[0].message or "")
        # A whole answer has no first token of its own before it is all there: the provider's
        # first-token limit does not cut it (its whole-answer limit, total_s, bounds it).
        await slow_first_token(sandboxes, "openai", "a1", ttft_ms=1500)
        whole = await gateway.complete(smart())
        assert whole.route.model == "alpha/a1" and whole.result.text
    finally:
        await backends.aclose()


async def test_the_callers_first_token_s_bounds_each_attempt(sandboxes: SandboxSet) -> None:
    backends = AdapterBackends(sandboxes)
    await backends.warm_up()
    await slow_first_token(sandboxes, "openai", "a1", ttft_ms=10_000)
    health = RecordingHealth()
    gateway = Gateway(mini_directory(), backends, health, RecordingLedger())
    try:
        # For a whole answer the first token reaches the caller with the answer. The deadline
        # was the caller's, not alpha's: it fails over, and alpha's breaker counts nothing.
        answer = await gateway.complete(smart(first_token_s=2.0))
        assert [(a.model, a.error_kind) for a in answer.route.attempts] == [
            ("alpha/a1", "CallerDeadline"),
            ("beta/b1", None),
        ]
        assert health.outcomes == [("beta", True)]
    finally:
        await backends.aclose()
