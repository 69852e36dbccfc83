"""Switchyard's exceptions: one tree, mapped once per adapter, safe to move between processes.

    SwitchyardError
    ├── ProviderError                  one attempt at one provider failed
    │   ├── FailoverError              the router tries the next candidate
    │   │   ├── ProviderUnavailable        connection refused/reset, DNS
    │   │   │   └── NoRunningReplica           …its deployment has no replica: no breaker counts it
    │   │   ├── ProviderTimeout            no answer (or no first token) within the deadline
    │   │   │   └── CallerDeadline             …the caller's own, shorter one: no breaker counts it
    │   │   ├── ProviderServerError        5xx
    │   │   ├── RateLimited                429; retry_after_s, quota_exhausted
    │   │   ├── AuthenticationFailed       401/403: a broken key is an outage of that provider
    │   │   ├── ContextLengthExceeded      the prompt does not fit this model's window
    │   │   ├── MalformedResponse          the provider answered something unparseable
    │   │   └── StreamInterrupted          the upstream cut a stream before its end
    │   └── CallerError                400 the caller caused: returned at once, never failed over
    └── RoutingError                   the router itself refuses or gives up
        ├── UnknownModel               404: neither a shortcut nor a model id; did you mean …
        ├── NoCandidates               503: every candidate was dropped before any was tried
        │   └── NoCandidateFits            400: …each for what the request itself asks
        ├── AllCandidatesFailed        502: every candidate tried failed; lists every attempt
        ├── BudgetExceeded             402: the tenant's or agent's budget cannot afford the call
        └── KeyRateLimited             429: the caller's key is over its rpm or tpm; retry_after_s

Ray pickles exceptions between replicas and actors, so every class here rebuilds from its state
(`SwitchyardError.__reduce__`); `tests/deployments/test_errors.py` round-trips each one.
Messages never carry secrets: adapters pass provider messages through `redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from deployments.canonical import Attempt, Skipped

E = TypeVar("E", bound="SwitchyardError")


def _rebuild(cls: type[SwitchyardError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def rebuild(cls: type[E], message: str, state: Mapping[str, Any]) -> E:
    """An error of `cls` from its message and fields, as unpickling makes it: without `__init__`.
    For errors that crossed a wire that is no pickle (the HTTP entry points rebuild them)."""
    error: E = _rebuild(cls, (message,), {**state, "message": message})
    return error


class SwitchyardError(Exception):
    """Base of every Switchyard error. `http_status` is what the gateway answers with."""

    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__: subclasses take keyword-only fields, and Exception's
        # default reduce would call them with the message alone.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def __str__(self) -> str:
        return self.message

    def http_headers(self) -> dict[str, str]:
        """Headers its HTTP answer carries besides the route's (`Retry-After` on a 429)."""
        return {}


# --- one attempt at one provider ----------------------------------------------------------------


class ProviderError(SwitchyardError):
    """An attempt at one provider failed. `status` is the provider's HTTP status, if any."""

    http_status = 502

    def __init__(
        self, message: str, *, provider: str, model: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status


class FailoverError(ProviderError):
    """The router should try the next candidate, and the provider's breaker counts a failure."""


class ProviderUnavailable(FailoverError):
    pass


class NoRunningReplica(ProviderUnavailable):
    """Serve reports the model's deployment lost: no running replica, its replacement not up
    (`serve_app.app.replicas`). It fails over at once, and no breaker counts it: the gateway
    knows it from Serve, and the provider's other models (its other deployments) are fine."""


class ProviderTimeout(FailoverError):
    pass


class CallerDeadline(ProviderTimeout):
    """The caller's `first_token_s`, shorter than the provider's own limit, ran out. It fails over
    like any timeout, but says nothing of the provider's health: no breaker counts it."""


class ProviderServerError(FailoverError):
    pass


class RateLimited(FailoverError):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str = "",
        status: int | None = 429,
        retry_after_s: float | None = None,
        quota_exhausted: bool = False,
    ) -> None:
        super().__init__(message, provider=provider, model=model, status=status)
        self.retry_after_s = retry_after_s
        self.quota_exhausted = quota_exhausted


class AuthenticationFailed(FailoverError):
    pass


class ContextLengthExceeded(FailoverError):
    """Not the provider's fault, so its breaker does not count it; a larger window may fit."""


class MalformedResponse(FailoverError):
    pass


class StreamInterrupted(FailoverError):
    pass


class CallerError(ProviderError):
    """The provider rejected the request as malformed: the caller's fault, returned as 400."""

    http_status = 400


# --- the router ---------------------------------------------------------------------------------


class RoutingError(SwitchyardError):
    pass


class UnknownModel(RoutingError):
    http_status = 404

    def __init__(self, name: str, *, suggestions: Iterable[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = ""
        if self.suggestions:
            hint = f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
        super().__init__(f"unknown model or shortcut {name!r}{hint}")


class NoCandidates(RoutingError):
    http_status = 503

    def __init__(self, name: str, *, skipped: Iterable[Skipped]) -> None:
        self.name = name
        self.skipped = list(skipped)
        reasons = "; ".join(f"{s.model}: {s.reason}" for s in self.skipped)
        super().__init__(f"no candidate for {name!r} could be tried ({reasons})")


class NoCandidateFits(NoCandidates):
    """Every candidate was dropped for what the request asks (a feature, a context window, an
    output limit, privacy it lacks): the caller's to change, so a 400, never retried like the
    503 of an outage. `code` is OpenAI's: `context_length_exceeded` when the prompt fits no
    candidate's window, so OpenAI clients recognise it."""

    http_status = 400

    def __init__(self, name: str, *, skipped: Iterable[Skipped], code: str | None = None) -> None:
        self.name = name
        self.skipped = list(skipped)
        self.code = code
        reasons = "; ".join(f"{s.model}: {s.reason}" for s in self.skipped)
        RoutingError.__init__(self, f"no candidate for {name!r} can take this request ({reasons})")


class AllCandidatesFailed(RoutingError):
    http_status = 502

    def __init__(
        self, name: str, *, attempts: Iterable[Attempt], skipped: Iterable[Skipped] = ()
    ) -> None:
        self.name = name
        self.attempts = list(attempts)
        self.skipped = list(skipped)
        tried = "; ".join(
            f"{a.model} ({a.provider}): {a.error_kind}"
            + (f" {a.status}" if a.status is not None else "")
            for a in self.attempts
        )
        super().__init__(f"every candidate for {name!r} failed: {tried}")


class BudgetExceeded(RoutingError):
    http_status = 402

    def __init__(self, *, scope: str, limit_usd: float, spent_usd: float, period: str) -> None:
        self.scope = scope  # e.g. "tenant acme" or "agent acme/summariser"
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.period = period  # "day" or "month"
        super().__init__(
            f"budget exceeded for {scope}: {period} limit ${limit_usd:.4f}, "
            f"spent and reserved ${spent_usd:.4f}"
        )


class KeyRateLimited(RoutingError):
    """The caller's key used its requests (`rpm`) or tokens (`tpm`) per minute: refused before
    any provider is called. `code` is OpenAI's, so OpenAI clients treat it as their own 429;
    `retry_after_s` (whole seconds, at least 1) is when this replica can take the call again."""

    http_status = 429

    def __init__(self, *, key_id: str, limit: str, per_minute: int, retry_after_s: int) -> None:
        self.key_id = key_id  # the key's stored id, never the key
        self.limit = limit  # "rpm" or "tpm"
        self.per_minute = per_minute
        self.retry_after_s = retry_after_s
        self.code = "rate_limit_exceeded"
        unit = "requests" if limit == "rpm" else "tokens"
        super().__init__(
            f"rate limit exceeded for key {key_id}: {per_minute} {unit} per minute ({limit}); "
            f"retry after {retry_after_s} s"
        )

    def http_headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after_s)}


# --- secrets ------------------------------------------------------------------------------------

# Shapes of provider keys, so that a key echoed back in a provider's message never leaves us.
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{20,}|gsk_[A-Za-z0-9]{10,})")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and anything shaped like a provider key replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPES.sub("[redacted]", text)
