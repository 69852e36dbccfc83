"""A learned shortcut's decision: which of its models to plan a call on, for this prompt.

The prompt (its last user turn, cut to the router's `max_chars`) is embedded by the router's
embed model, through the same backends as any embedding call (the `embed` deployment's handle in
the app), and the artifact's linear models say which is the cheapest model likely to do as well as
the strongest (`directory.routers.decide`). The router never fails a call: when the embed model is
not deployed, fails, or gives no vector within the shortcut's `embed_deadline_ms`, the call goes to
the shortcut's fallback and the decision says why. The chosen model's backup chain fails over as
any call's does (`plan_call(..., primary=...)`).

The embedding is part of the call's overhead; it is not booked as an attempt of its own (a local
model's vector costs only GPU time, and the call it decides is what the caller asked for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from deployments.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult
from directory.routers import decide, embedded_text
from directory.schema import Directory, Learned, ModelProfile
from serve_app.routing.call import Decision
from serve_app.routing.plan import Candidate

Embed = Callable[[str], Awaitable[Sequence[float]]]


class EmbedBackends(Protocol):
    """The part of the gateway's backends the router uses."""

    def serves(self, model: ModelProfile) -> bool: ...

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult: ...


async def decision_for(
    directory: Directory,
    backends: EmbedBackends,
    name: str,
    request: ChatRequest | EmbeddingRequest,
) -> Decision | None:
    """The decision when `name` is a learned shortcut and the call is a chat; else None."""
    shortcut = directory.shortcuts.get(name)
    if shortcut is None or shortcut.learned is None or not isinstance(request, ChatRequest):
        return None
    learned = shortcut.learned
    assert learned.artifact is not None  # the loader fills it in or rejects the directory
    embedder = directory.models[learned.artifact.embedding_model]
    if not backends.serves(embedder):
        return await decide_model(learned, request, None)

    async def embed(text: str) -> Sequence[float]:
        asked = EmbeddingRequest(model=embedder.provider_model, inputs=[text])
        return (await backends.embed(Candidate(embedder), asked)).vectors[0]

    return await decide_model(learned, request, embed)


def prompt_text(request: ChatRequest) -> str:
    """What the router judges: the last user turn's text (the question being asked now)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text()
    return request.messages[-1].text()


async def decide_model(learned: Learned, request: ChatRequest, embed: Embed | None) -> Decision:
    """The model to plan the call on; `embed` is None when the embed model is not deployed."""
    artifact = learned.artifact
    assert artifact is not None  # the loader fills it in or rejects the directory

    def fallback(reason: str) -> Decision:
        return Decision(model=learned.fallback, router=learned.router, fallback_reason=reason)

    who = artifact.embedding_model
    if embed is None:
        return fallback(f"embed model {who} is not deployed here")
    text = embedded_text(prompt_text(request), artifact.max_chars)
    if not text.strip():
        return fallback("the prompt has no text to judge")
    deadline_s = learned.embed_deadline_ms / 1000
    try:
        async with asyncio.timeout(deadline_s):
            vector = await embed(text)
    except TimeoutError:
        return fallback(f"embed model {who} gave no vector within {learned.embed_deadline_ms:g} ms")
    except Exception as error:  # whatever broke, the call itself must go on
        return fallback(f"embed model {who} failed: {type(error).__name__}")
    if len(vector) != artifact.dimensions:
        return fallback(
            f"embed model {who} gave {len(vector)} dimensions, not {artifact.dimensions}"
        )
    choice = decide(vector, artifact)
    return Decision(
        model=learned.models[choice.index],
        router=learned.router,
        probability=choice.probability,
        threshold=choice.threshold,
    )
