"""`CloudProxy`: the Ray Serve deployment class in front of one cloud provider.

A plain class: the app builder wraps it with `serve.deployment(...)` and its options, so it is
tested without a cluster. It reads its key once, builds its adapter (one SDK client, one
connection pool) once per replica, and forwards; the adapter does the translating and the error
mapping. It never logs or returns the key, and scrubs it from every log line of its process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.cloud.registry import build_adapter
from deployments.errors import AuthenticationFailed
from deployments.log_redaction import redact_logs


class CloudProxy:
    def __init__(
        self,
        provider_id: str,
        adapter_kind: str,
        base_url: str,
        api_key_env: str | None,
        timeouts: Mapping[str, float] | None = None,
        api_key: str | None = None,
    ) -> None:
        """`api_key` wins over `api_key_env` (tests and the sandbox pass one directly)."""
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env) or None
        # Whatever this process logs (Serve's own tracebacks included) is scrubbed of the key.
        redact_logs([api_key])
        self.provider_id = provider_id
        # A replica without its key still starts, and answers every call with the outage it is
        # (AuthenticationFailed: the router fails over), rather than crash-looping.
        self._missing_key = api_key_env if api_key is None and api_key_env else None
        self._adapter = build_adapter(adapter_kind, provider_id, base_url, api_key, timeouts)

    async def complete(self, req: ChatRequest) -> ChatResult:
        self._check_key(req.model)
        return await self._adapter.complete(req)

    async def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]:
        """An async generator: Serve streams it to a handle called with `.options(stream=True)`."""
        self._check_key(req.model)
        async for chunk in self._adapter.stream(req):
            yield chunk

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        self._check_key(req.model)
        return await self._adapter.embed(req)

    async def count_tokens(self, req: ChatRequest) -> int | None:
        """The prompt's tokens as the provider counts them, where its API can count (Anthropic's);
        None where it cannot, so the caller knows to estimate."""
        count = getattr(self._adapter, "count_tokens", None)
        if count is None:
            return None
        self._check_key(req.model)
        result: int = await count(req)
        return result

    async def check_health(self) -> None:
        """Serve's replica health check. Deliberately no provider call: an outage upstream is the
        breakers' business, and restarting this replica would not cure it."""

    async def aclose(self) -> None:
        await self._adapter.aclose()

    def _check_key(self, model: str) -> None:
        if self._missing_key is not None:
            message = f"no API key: the environment variable {self._missing_key} is not set"
            raise AuthenticationFailed(message, provider=self.provider_id, model=model)
