"""Adapter classes by adapter kind (providers.yaml's `adapter`), and the one factory that builds
them: a new provider SDK is a new module and one line here, never a branch elsewhere.

The registry names each class as "module:Class" and imports it on first use, so a CloudProxy
replica loads its own provider's SDK and not the others' (32 to 60 MiB less per replica, by
BENCHMARKS.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import cast

from deployments.cloud.base import ChatAdapter, Timeouts

# An adapter class, as its constructor: (provider id, base URL, API key, timeouts).
AdapterClass = Callable[[str, str | None, str | None, Timeouts], ChatAdapter]

ADAPTERS: dict[str, str] = {
    "anthropic": "deployments.cloud.anthropic_adapter:AnthropicAdapter",
    "openai": "deployments.cloud.openai_adapter:OpenAIAdapter",
    "openai-compatible": "deployments.cloud.openai_adapter:OpenAICompatibleAdapter",
    "google": "deployments.cloud.google_adapter:GoogleAdapter",
}


def adapter_class(kind: str) -> AdapterClass:
    """The class registered for `kind`, importing its module (and so its SDK) if not yet loaded;
    `KeyError` for an unknown kind."""
    module_name, _, class_name = ADAPTERS[kind].partition(":")
    return cast(AdapterClass, getattr(importlib.import_module(module_name), class_name))


def build_adapter(
    kind: str,
    provider_id: str,
    base_url: str | None,
    api_key: str | None,
    timeouts: Timeouts | Mapping[str, float] | None = None,
) -> ChatAdapter:
    """One adapter (holding one SDK client) for one provider; `ValueError` for an unknown kind."""
    if kind not in ADAPTERS:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(f"unknown adapter kind {kind!r} for {provider_id!r}; known: {known}")
    if not isinstance(timeouts, Timeouts):
        timeouts = Timeouts.from_mapping(timeouts)
    return adapter_class(kind)(provider_id, base_url, api_key, timeouts)
