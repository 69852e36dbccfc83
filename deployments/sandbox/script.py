"""The scriptbook: what each sandbox does for each model name, and how many requests it saw.

A script is set per model name through `POST /_sandbox/script` (or `Scriptbook.set`). Fields
merge into the model's current script, so latency can be set once and faults added later.
The model name `"*"` is the fallback script for every model that has none of its own.

A fault applies to the first `times` requests for that model (`times` null: until reset), then
clears by itself; the rest of the script (latency, usage, …) stays. Every request is counted,
faulted or not.

One scriptbook belongs to one sandbox app and is mutated from two threads (the app's event loop
and a test or CLI thread holding the `SandboxSet`), hence the lock. It is held only for a few
dictionary operations, so the hot path stays cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

WILDCARD = "*"
# What `slow_first_token` waits when the script does not say (`ttft_ms`).
DEFAULT_SLOW_FIRST_TOKEN_MS = 2_000.0
# What `context_length` claims as the model's window when the script does not say.
DEFAULT_CONTEXT_WINDOW = 8_192


class Fault(StrEnum):
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"  # with Retry-After: `retry_after_s`
    OVERLOADED = "overloaded"  # Anthropic 529 overloaded_error; 503 elsewhere
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 in the provider's quota shape, no Retry-After
    HTTP_401 = "http_401"
    HTTP_400 = "http_400"  # a caller error: invalid request
    CONTEXT_LENGTH = "context_length"  # 400 in the provider's context-length shape
    HANG = "hang"  # no answer until the client goes away (or `hang_s`)
    MALFORMED_JSON = "malformed_json"  # 200 with a body that is not JSON
    CUT_STREAM_AFTER_N_CHUNKS = "cut_stream_after_n_chunks"  # connection dropped after `n` events
    SLOW_FIRST_TOKEN = "slow_first_token"  # waits `ttft_ms` before the first token


class Script(BaseModel):
    """One model's script. Unknown fields are refused, so a typo does not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    fault: Fault | None = None
    times: int | None = Field(default=None, ge=1)  # None: until reset
    n: int = Field(default=1, ge=0)  # cut_stream_after_n_chunks: events sent before the cut
    retry_after_s: float = Field(default=1.0, ge=0)
    hang_s: float = Field(default=3_600.0, gt=0)
    latency_ms: float = Field(default=0.0, ge=0)  # before the response starts
    # Before the first token. With fault slow_first_token it belongs to the fault, and applies
    # only while the fault does.
    ttft_ms: float | None = Field(default=None, ge=0)
    tokens_per_s: float | None = Field(default=None, gt=0)  # output pace; None: no delay
    output_tokens: int | None = Field(default=None, ge=0)  # answer length before max_tokens
    cached_input_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    embedding_dimensions: int | None = Field(default=None, ge=1, le=65_536)
    context_window: int | None = Field(default=None, ge=1)  # what context_length reports


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one request: its script and the fault that applies to it, if any."""

    script: Script
    fault: Fault | None
    closing: threading.Event  # set when the sandbox stops: delays end early

    @property
    def latency_s(self) -> float:
        return self.script.latency_ms / 1000.0

    @property
    def ttft_s(self) -> float:
        ttft_ms = self.script.ttft_ms
        if self.script.fault is Fault.SLOW_FIRST_TOKEN:
            if self.fault is not Fault.SLOW_FIRST_TOKEN:
                return 0.0
            return (DEFAULT_SLOW_FIRST_TOKEN_MS if ttft_ms is None else ttft_ms) / 1000.0
        return 0.0 if ttft_ms is None else ttft_ms / 1000.0

    @property
    def token_interval_s(self) -> float:
        tps = self.script.tokens_per_s
        return 0.0 if tps is None else 1.0 / tps

    @property
    def context_window(self) -> int:
        return self.script.context_window or DEFAULT_CONTEXT_WINDOW


_UNSCRIPTED = Script(model=WILDCARD)


class Scriptbook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, Script] = {}
        # Faults still to serve per model; None: until reset. Absent: no fault.
        self._remaining: dict[str, int | None] = {}
        self._requests: dict[str, int] = {}
        self._total = 0
        # Set once the server stops, so that hung and paced requests end at once rather than be
        # cancelled mid-flight by the server's shutdown.
        self.closing = threading.Event()

    def set(self, fields: dict[str, Any]) -> Script:
        """Merge `fields` into the script of `fields["model"]`.

        Raises pydantic's ValidationError (a ValueError) for an unknown field or a bad value.
        """
        model = fields.get("model")
        with self._lock:
            current = self._scripts.get(model) if isinstance(model, str) else None
            merged = {**current.model_dump(exclude_unset=True), **fields} if current else fields
            script = Script.model_validate(merged)
            self._scripts[script.model] = script
            # A new fault or a new count re-arms the fault from zero.
            if "fault" in fields or "times" in fields:
                if script.fault is None:
                    self._remaining.pop(script.model, None)
                else:
                    self._remaining[script.model] = script.times
            return script

    def begin(self, model: str) -> Plan:
        """Count one request for `model` and decide what it gets. Called once per request."""
        with self._lock:
            self._requests[model] = self._requests.get(model, 0) + 1
            self._total += 1
            key = model if model in self._scripts else WILDCARD
            script = self._scripts.get(key)
            if script is None:
                return Plan(script=_UNSCRIPTED, fault=None, closing=self.closing)
            if key not in self._remaining:
                return Plan(script=script, fault=None, closing=self.closing)
            left = self._remaining[key]
            if left is not None:
                if left <= 1:
                    del self._remaining[key]
                else:
                    self._remaining[key] = left - 1
            return Plan(script=script, fault=script.fault, closing=self.closing)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self._requests), "total": self._total}

    def scripts(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                model: {
                    **script.model_dump(mode="json"),
                    # None: the fault lasts until reset; 0: no fault left.
                    "faults_left": self._remaining[model] if model in self._remaining else 0,
                }
                for model, script in self._scripts.items()
            }

    def models(self) -> list[str]:
        """Model names scripted or asked for so far (a sandbox serves any name it is sent)."""
        with self._lock:
            return sorted((self._scripts.keys() | self._requests.keys()) - {WILDCARD})

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._remaining.clear()
            self._requests.clear()
            self._total = 0
