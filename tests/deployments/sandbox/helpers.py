"""Talking to the sandboxes' HTTP control API, as a separate process would."""

from __future__ import annotations

from typing import Any

import httpx

from deployments.sandbox import SandboxSet


class Control:
    def __init__(self, http: httpx.AsyncClient, sandboxes: SandboxSet) -> None:
        self._http = http
        self._sandboxes = sandboxes

    async def script(self, provider: str, **fields: Any) -> dict[str, Any]:
        """`POST /_sandbox/script` on `provider`'s sandbox (openai, anthropic, google)."""
        return await self._call("POST", provider, "script", fields)

    async def stats(self, provider: str) -> dict[str, Any]:
        return await self._call("GET", provider, "stats")

    async def reset(self, provider: str) -> dict[str, Any]:
        return await self._call("POST", provider, "reset")

    async def _call(
        self, method: str, provider: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = f"{self._sandboxes.root_url(provider)}/_sandbox/{action}"
        response = await self._http.request(method, url, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
