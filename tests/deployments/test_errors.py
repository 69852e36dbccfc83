"""Every Switchyard exception survives pickling (Ray moves them between processes), and `redact`
keeps keys out of messages."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

from deployments import errors
from deployments.canonical import Attempt, Skipped

# Arguments for each class with an `__init__` of its own; the rest take the ProviderError ones.
_SKIPPED = [Skipped(model="openai/gpt-x", reason="breaker open")]
_ATTEMPTS = [
    Attempt(
        model="anthropic/claude-x",
        provider="anthropic",
        outcome="failed",
        error_kind="RateLimited",
        status=429,
        duration_ms=12.5,
        message="slow down",
    )
]
_PROVIDER_ARGS: tuple[tuple[Any, ...], dict[str, Any]] = (
    ("it broke",),
    {"provider": "anthropic", "model": "claude-x", "status": 503},
)
_SPECIAL: dict[type[errors.SwitchyardError], tuple[tuple[Any, ...], dict[str, Any]]] = {
    errors.SwitchyardError: (("boom",), {}),
    errors.ProviderError: _PROVIDER_ARGS,
    errors.RoutingError: (("no route",), {}),
    errors.RateLimited: (
        ("slow down",),
        {"provider": "openai", "model": "gpt-x", "retry_after_s": 2.5, "quota_exhausted": True},
    ),
    errors.UnknownModel: (("smrat",), {"suggestions": ["smart", "smarter"]}),
    errors.NoCandidates: (("smart",), {"skipped": _SKIPPED}),
    errors.NoCandidateFits: (
        ("smart",),
        {"skipped": _SKIPPED, "code": "context_length_exceeded"},
    ),
    errors.AllCandidatesFailed: (("smart",), {"attempts": _ATTEMPTS, "skipped": _SKIPPED}),
    errors.BudgetExceeded: (
        (),
        {"scope": "tenant acme", "limit_usd": 10.0, "spent_usd": 10.5, "period": "day"},
    ),
    errors.KeyRateLimited: (
        (),
        {"key_id": "key_1", "limit": "rpm", "per_minute": 10, "retry_after_s": 42},
    ),
}

ERROR_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SwitchyardError) and cls.__module__ == errors.__name__
    ),
    key=lambda cls: cls.__name__,
)


def _build(cls: type[errors.SwitchyardError]) -> errors.SwitchyardError:
    if cls in _SPECIAL:
        args, kwargs = _SPECIAL[cls]
    elif issubclass(cls, errors.ProviderError) and "__init__" not in vars(cls):
        args, kwargs = _PROVIDER_ARGS
    else:
        raise AssertionError(f"{cls.__name__} has its own __init__: add its arguments to _SPECIAL")
    return cls(*args, **kwargs)


def test_every_class_is_covered() -> None:
    assert len(ERROR_CLASSES) >= 17
    assert errors.StreamInterrupted in ERROR_CLASSES


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_round_trips_through_pickle(cls: type[errors.SwitchyardError]) -> None:
    original = _build(cls)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original)
    assert copy.args == original.args
    assert vars(copy) == vars(original)
    assert copy.http_status == original.http_status


def test_pickle_keeps_the_rate_limit_fields() -> None:
    copy = pickle.loads(pickle.dumps(_build(errors.RateLimited)))
    assert isinstance(copy, errors.RateLimited)
    assert (copy.retry_after_s, copy.quota_exhausted, copy.status) == (2.5, True, 429)


def test_redact_removes_given_secrets_and_key_shapes() -> None:
    text = "key sk-test-SECRET123456 and custom-secret-value and AIza" + "x" * 30
    cleaned = errors.redact(text, ["custom-secret-value"])
    assert "SECRET123456" not in cleaned
    assert "custom-secret-value" not in cleaned
    assert "AIza" not in cleaned
    assert cleaned.count("[redacted]") == 3


def test_redact_leaves_plain_text_alone() -> None:
    assert errors.redact("HTTP 500: overloaded", [""]) == "HTTP 500: overloaded"
