"""How many input tokens a prompt is for the model a name resolves to: exact where that model's
provider counts (Anthropic's token-counting endpoint, through its proxy), an estimate otherwise.

The estimate is the same rule of thumb the planner uses (`canonical.estimated_tokens`, four
characters a token, plus four a message for its framing), with the tools' JSON schemas counted as
text; it is always marked as one. Tokenizers differ by vendor by tens of percent, so it is a
planning figure, not a bill. A provider that fails to count gets the estimate too, saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from deployments.canonical import ChatRequest, estimated_tokens
from deployments.errors import ProviderError, UnknownModel
from directory.errors import UnknownName
from directory.schema import Directory
from serve_app.routing.plan import Candidate

ESTIMATE = "estimate: 4 characters a token, 4 tokens a message, tool schemas as text"


@runtime_checkable
class TokenCounter(Protocol):
    """Backends that can ask a model's provider for its own count (`HandleBackends`)."""

    async def count_tokens(self, candidate: Candidate, request: ChatRequest) -> int | None: ...


@dataclass(frozen=True)
class TokenCount:
    input_tokens: int
    model: str  # the directory id the name resolved to
    exact: bool
    method: str  # "<provider> count_tokens", or ESTIMATE (and why, where a count failed)


async def count_tokens(
    directory: Directory, counter: TokenCounter | None, name: str, request: ChatRequest
) -> TokenCount:
    """`request`'s input tokens for the model `name` resolves to. UnknownModel for a name that is
    neither a shortcut nor a model id."""
    try:
        model = directory.resolve(name)
    except UnknownName as unknown:
        raise UnknownModel(name, suggestions=unknown.suggestions) from None
    method = ESTIMATE
    if counter is not None:
        sent = request.model_copy(update={"model": model.provider_model})
        try:
            counted = await counter.count_tokens(Candidate(model), sent)
        except ProviderError as error:
            counted, method = None, f"{ESTIMATE} ({model.provider} could not count: {error})"
        if counted is not None:
            return TokenCount(counted, model.id, True, f"{model.provider} count_tokens")
    return TokenCount(estimate(request), model.id, False, method)


def estimate(request: ChatRequest) -> int:
    tools = json.dumps([tool.model_dump() for tool in request.tools or []])
    return request.estimated_prompt_tokens() + (
        estimated_tokens(len(tools)) if request.tools else 0
    )
