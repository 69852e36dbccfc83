"""What every cloud adapter shares: its shape, its transport timeouts, and the small pieces of
translation that do not depend on a provider SDK (this module imports none).

An adapter is built once per process from a provider's settings and holds one long-lived SDK
client. Its three calls take and return only canonical types; every SDK exception is mapped to
`deployments.errors` inside the adapter, so nothing provider-specific leaves it. The mapped error
is raised `from None`: an SDK exception holds its request (headers with the key, the URL), and a
chained one would print in every traceback Ray logs and ships between processes, so the mapped
error keeps a redacted summary instead (class, status, the provider's message).

Timeouts (`Timeouts`, from providers.yaml's `timeouts`) are transport settings handed to the SDK's
HTTP client: `connect_s` bounds opening a connection, `total_s` each read (so a whole answer, and on
a stream each wait between two reads). The deadlines of an attempt, its first token and its whole
answer, are the fail-over loop's (`serve_app.routing.failover`), which covers local models too:
no adapter enforces them again.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.errors import (
    AuthenticationFailed,
    CallerError,
    MalformedResponse,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
    redact,
)

# What the SDKs get when a provider needs no key (or it is missing, see CloudProxy): they refuse
# to be built without one.
NO_KEY = "no-key-configured"
E = TypeVar("E", bound=ProviderError)


@dataclass(frozen=True)
class Timeouts:
    """The SDK's transport timeouts, in seconds; the defaults are providers.yaml's."""

    connect_s: float = 5.0
    total_s: float = 300.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None) -> Timeouts:
        """From providers.yaml's `timeouts`; its `first_token_s` is the fail-over loop's."""
        values = values or {}
        return cls(
            connect_s=values.get("connect_s", cls.connect_s),
            total_s=values.get("total_s", cls.total_s),
        )


class ChatAdapter(Protocol):
    """What `CloudProxy` needs from an adapter; one class per provider SDK implements it."""

    provider_id: str

    async def complete(self, req: ChatRequest) -> ChatResult: ...

    def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult: ...

    async def aclose(self) -> None: ...


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or HTTP date)."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_data_url(url: str, *, provider: str, model: str) -> tuple[str, str]:
    """`(media type, base64 payload)` of a `data:` URL, checked; else the caller's mistake."""
    header, _, payload = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    if not header.startswith("data:") or not header.endswith(";base64") or not media_type:
        raise CallerError(
            "image data URLs must be base64: data:<type>;base64,<data>",
            provider=provider,
            model=model,
        )
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise CallerError(
            "image data URL is not valid base64", provider=provider, model=model
        ) from error
    return media_type, payload


def arguments_object(arguments: str, *, provider: str, model: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the object that Anthropic and Gemini take."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as error:
        raise CallerError(
            "tool call arguments are not valid JSON", provider=provider, model=model
        ) from error
    if not isinstance(value, dict):
        raise CallerError(
            "tool call arguments must be a JSON object", provider=provider, model=model
        )
    return value


def system_text(req: ChatRequest) -> str | None:
    """The system and developer messages, joined: Anthropic and Gemini take them apart."""
    parts = [m.text() for m in req.messages if m.role in ("system", "developer")]
    return "\n\n".join(p for p in parts if p) or None


def tool_names_by_call_id(req: ChatRequest) -> dict[str, str]:
    """Which tool each earlier call named: Gemini's function responses carry names, not ids."""
    return {call.id: call.name for m in req.messages if m.tool_calls for call in m.tool_calls}


class ErrorFactory:
    """Builds one provider's errors with every message passed through `redact` first."""

    def __init__(self, provider: str, api_key: str | None) -> None:
        self.provider = provider
        self._secrets = [api_key] if api_key else []

    def make(self, kind: type[E], message: str, model: str, *, status: int | None = None) -> E:
        return kind(
            redact(message, self._secrets), provider=self.provider, model=model, status=status
        )

    def rate_limited(
        self,
        message: str,
        model: str,
        headers: Mapping[str, str] | None,
        quota_exhausted: bool,
        *,
        status: int = 429,
        retry_after: float | None = None,
    ) -> RateLimited:
        return RateLimited(
            redact(message, self._secrets),
            provider=self.provider,
            model=model,
            status=status,
            retry_after_s=retry_after if retry_after is not None else retry_after_s(headers),
            quota_exhausted=quota_exhausted,
        )


def summary(error: Exception) -> str:
    """What an SDK error says, for a message: its class and its own message (redacted by the
    factory), never the request it carries (headers, the key) nor the chain behind it."""
    return f"{type(error).__name__}: {getattr(error, 'message', None) or error}"


def class_for_status(status: int) -> type[ProviderError]:
    """The error for an HTTP status that no more specific rule claimed."""
    if status == 429:
        return RateLimited
    if status in (401, 403):
        return AuthenticationFailed
    if status == 408:
        return ProviderTimeout
    if status >= 500:
        return ProviderServerError
    if status >= 400:
        return CallerError
    return MalformedResponse
