"""Adapter classes by adapter kind (providers.yaml's `adapter`), and the one factory that builds
them: a new provider SDK is a new module and one line here, never a branch elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from deployments.cloud.anthropic_adapter import AnthropicAdapter
from deployments.cloud.base import ChatAdapter, Timeouts
from deployments.cloud.google_adapter import GoogleAdapter
from deployments.cloud.openai_adapter import OpenAIAdapter, OpenAICompatibleAdapter

# An adapter class, as its constructor: (provider id, base URL, API key, timeouts).
AdapterClass = Callable[[str, str | None, str | None, Timeouts], ChatAdapter]

ADAPTERS: dict[str, AdapterClass] = {
    "anthropic": AnthropicAdapter,
    "openai": OpenAIAdapter,
    "openai-compatible": OpenAICompatibleAdapter,
    "google": GoogleAdapter,
}


def build_adapter(
    kind: str,
    provider_id: str,
    base_url: str | None,
    api_key: str | None,
    timeouts: Timeouts | Mapping[str, float] | None = None,
) -> ChatAdapter:
    """One adapter (holding one SDK client) for one provider; `ValueError` for an unknown kind."""
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(
            f"unknown adapter kind {kind!r} for {provider_id!r}; known: {known}"
        ) from None
    if not isinstance(timeouts, Timeouts):
        timeouts = Timeouts.from_mapping(timeouts)
    return adapter_class(provider_id, base_url, api_key, timeouts)
