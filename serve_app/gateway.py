"""The gateway: one call in, routed, failed over, metered. The single real implementation.

Each Ingress replica holds one `Gateway`. Its collaborators are injected (the directory, the way to
reach each model, the breaker view and the ledger), so it runs the same in a replica, in a unit
test and in a notebook. Nothing here waits on an actor: health and ledger calls are synchronous
appends to local state that background tasks ship out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol, TypeVar

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.errors import ContextLengthExceeded, FailoverError
from deployments.ledger.cost import cost_usd
from deployments.ledger.records import UsageRecord
from directory.schema import Directory, ModelProfile
from serve_app.call import CallOptions, ChatCall, EmbeddingCall, Route
from serve_app.routing.failover import AttemptReport, StreamAdapter, execute
from serve_app.routing.plan import Candidate, Plan, PlanChecks, plan_call

Result = TypeVar("Result", ChatResult, EmbeddingResult)


class Backends(Protocol):
    """How the gateway reaches a model: a Ray handle in the app, anything async in tests."""

    def serves(self, model: ModelProfile) -> bool: ...

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult: ...

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult: ...


class HealthView(Protocol):
    def is_available(self, provider: str) -> bool: ...

    def try_acquire_probe(self, provider: str) -> bool: ...

    def record(self, provider: str, ok: bool, error: BaseException | None = None) -> None: ...


class Ledger(Protocol):
    def book(self, record: UsageRecord) -> None: ...


class Gateway:
    def __init__(
        self,
        directory: Directory,
        backends: Backends,
        health: HealthView,
        ledger: Ledger,
        notices: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        # Said in every answer a model gives, e.g. that a development stand-in serves it.
        self._notices = dict(notices or {})
        self._backends = backends
        self._health = health
        self._ledger = ledger

    def use_directory(self, directory: Directory) -> None:
        """Swap the directory; calls in flight keep the plan they already made."""
        self.directory = directory

    # --- chat -----------------------------------------------------------------------------------

    async def stream(self, call: ChatCall, route: Route) -> AsyncIterator[ChatChunk]:
        """Stream the answer; `route` is filled in as the call goes (model, attempts, usage)."""
        plan = self._plan(call.name, call.request, call.options)
        route.shortcut = plan.shortcut
        route.skipped = list(plan.skipped)
        backends = self._backends

        calls: StreamAdapter[ChatChunk] = StreamAdapter(
            open=lambda candidate: backends.stream(candidate, _for(call.request, candidate)),
            has_content=ChatChunk.has_content,
            usage_of=lambda chunk: chunk.usage,
        )
        async for candidate, chunk in execute(
            plan,
            calls,
            observe=lambda report: self._observe(report, call.name, call.options, route),
            first_item_timeout_s=lambda candidate: self._first_token_s(candidate, call.options),
        ):
            _served(route, candidate, self._notices)
            yield chunk.model_copy(update={"provider_model": candidate.model.id})

    async def complete(self, call: ChatCall, route: Route) -> ChatResult:
        """The whole answer. Same loop as `stream`, with one item: the result."""
        plan = self._plan(call.name, call.request, call.options)
        route.shortcut = plan.shortcut
        route.skipped = list(plan.skipped)
        backends = self._backends

        async def one_result(candidate: Candidate) -> AsyncIterator[ChatResult]:
            yield await backends.complete(candidate, _for(call.request, candidate))

        calls: StreamAdapter[ChatResult] = StreamAdapter(
            open=one_result, has_content=lambda result: True, usage_of=lambda r: r.usage
        )
        items = execute(
            plan,
            calls,
            observe=lambda report: self._observe(report, call.name, call.options, route),
            first_item_timeout_s=lambda candidate: self._total_s(candidate, call.options),
        )
        return await _only_item(items, route, self._notices)

    # --- embeddings -----------------------------------------------------------------------------

    async def embed(self, call: EmbeddingCall, route: Route) -> EmbeddingResult:
        plan = self._plan(call.name, call.request, call.options)
        route.shortcut = plan.shortcut
        route.skipped = list(plan.skipped)
        backends = self._backends

        async def one_result(candidate: Candidate) -> AsyncIterator[EmbeddingResult]:
            request = call.request.model_copy(update={"model": candidate.model.provider_model})
            yield await backends.embed(candidate, request)

        calls: StreamAdapter[EmbeddingResult] = StreamAdapter(
            open=one_result, has_content=lambda result: True, usage_of=lambda r: r.usage
        )
        items = execute(
            plan,
            calls,
            observe=lambda report: self._observe(report, call.name, call.options, route),
            first_item_timeout_s=lambda candidate: self._total_s(candidate, call.options),
        )
        return await _only_item(items, route, self._notices)

    # --- the parts ------------------------------------------------------------------------------

    def _plan(
        self, name: str, request: ChatRequest | EmbeddingRequest, options: CallOptions
    ) -> Plan:
        health = self._health
        checks = PlanChecks(
            provider_available=lambda p: health.is_available(p) or health.try_acquire_probe(p),
            deployed=self._backends.serves,
        )
        return plan_call(self.directory, name, request, privacy=options.privacy, checks=checks)

    def _first_token_s(self, candidate: Candidate, options: CallOptions) -> float | None:
        provider = self.directory.providers[candidate.model.provider]
        limits = [provider.timeouts.first_token_s, options.deadline_s]
        return min((limit for limit in limits if limit is not None), default=None)

    def _total_s(self, candidate: Candidate, options: CallOptions) -> float | None:
        provider = self.directory.providers[candidate.model.provider]
        limits = [provider.timeouts.total_s, options.deadline_s]
        return min((limit for limit in limits if limit is not None), default=None)

    def _observe(
        self, report: AttemptReport, name: str, options: CallOptions, route: Route
    ) -> None:
        """Book one attempt: ledger record, breaker outcome, and the caller's route."""
        model = report.candidate.model
        route.attempts.append(report.as_attempt())
        route.usage = route.usage + report.usage
        route.cost_usd += cost_usd(report.usage, model.pricing)
        # Only the provider's own failures count against its breaker: a prompt too long for the
        # model, a caller's error or a caller who hung up say nothing of its health.
        error = report.error
        if report.outcome == "ok":
            self._health.record(model.provider, True)
        elif isinstance(error, FailoverError) and not isinstance(error, ContextLengthExceeded):
            self._health.record(model.provider, False, error)
        self._ledger.book(
            UsageRecord.priced(
                usage=report.usage,
                pricing=model.pricing,
                request_id=options.request_id,
                attempt=report.number,
                tenant=options.tenant,
                agent=options.agent,
                shortcut=name if name in self.directory.shortcuts else None,
                model=model.id,
                provider=model.provider,
                latency_ms=report.latency_ms,
                outcome=report.outcome,
                ttft_ms=report.ttft_ms,
                error_kind=type(error).__name__ if error is not None else None,
            )
        )


def _served(route: Route, candidate: Candidate, notices: Mapping[str, str]) -> None:
    route.model, route.provider = candidate.model.id, candidate.model.provider
    route.notice = notices.get(candidate.model.id)


async def _only_item(
    items: AsyncIterator[tuple[Candidate, Result]], route: Route, notices: Mapping[str, str]
) -> Result:
    """The single item of a one-item execution, read to its end so the attempt is booked."""
    served: tuple[Candidate, Result] | None = None
    async for item in items:
        served = item
    assert served is not None  # execute() yields an item or raises
    candidate, result = served
    _served(route, candidate, notices)
    return result


def _for(request: ChatRequest, candidate: Candidate) -> ChatRequest:
    """The request as this candidate's provider takes it: its own model name."""
    return request.model_copy(update={"model": candidate.model.provider_model})
