"""The gateway: one call in, routed, failed over, metered. The single real implementation.

Each Ingress replica holds one `Gateway`. Its collaborators are injected (the directory, the way to
reach each model, the breaker view, the ledger, the replica's allowances (free-tier and budget
leases), and the metrics), so it runs the same in a replica, in a unit test and in a notebook.
Nothing here waits on an actor: health, ledger, lease and metrics calls are synchronous work on
local state that background tasks ship out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from typing import Protocol, TypeVar, runtime_checkable

from deployments.canonical import (
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    Skipped,
    Usage,
)
from deployments.errors import (
    CallerDeadline,
    ContextLengthExceeded,
    FailoverError,
    NoRunningReplica,
)
from deployments.ledger.records import UsageRecord
from directory.schema import Directory, ModelProfile
from serve_app.allowances.calls import (
    CallAllowances,
    ReplicaAllowances,
    gpu_tokens_per_s,
    output_cap,
)
from serve_app.allowances.tenants import TenantConfig, Tenants
from serve_app.routing.call import (
    Answer,
    CallOptions,
    ChatCall,
    Decision,
    EmbeddingCall,
    Route,
    StreamedAnswer,
    new_call_id,
    with_route,
)
from serve_app.routing.counting import TokenCounter
from serve_app.routing.failover import AttemptReport, Deadline, StreamAdapter, execute
from serve_app.routing.learned import decision_for
from serve_app.routing.metrics import CallLabels, Meter, NullMeter
from serve_app.routing.plan import Candidate, Plan, PlanChecks, plan_call
from serve_app.routing.usage import ReportedUsage, StreamedUsage

Result = TypeVar("Result", ChatResult, EmbeddingResult)


class Backends(Protocol):
    """How the gateway reaches a model: a Ray handle in the app, anything async in tests."""

    def serves(self, model: ModelProfile) -> bool: ...

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult: ...

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult: ...


@runtime_checkable
class ReplicaView(Protocol):
    """Backends that know when a model's deployment has lost every replica (`HandleBackends`)."""

    def no_replica(self, model: ModelProfile) -> str | None: ...


class HealthView(Protocol):
    """The breakers as the plan asks them (questions) and as an attempt takes a probe."""

    def is_available(self, provider: str) -> bool: ...

    def could_probe(self, provider: str) -> bool: ...

    def try_acquire_probe(self, provider: str) -> bool: ...

    def release_probe(self, provider: str) -> None: ...

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
        allowances: ReplicaAllowances | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.directory = directory
        # Said in every answer a model gives, e.g. that a development stand-in serves it.
        self._notices = dict(notices or {})
        self._backends = backends
        self._no_replica = backends.no_replica if isinstance(backends, ReplicaView) else _no_reason
        self._health = health
        self._ledger = ledger
        self._allowances = allowances or ReplicaAllowances()
        self._meter: Meter = meter or NullMeter()
        self._allowances.use(directory, self._allowances.tenants)

    @property
    def token_counter(self) -> TokenCounter | None:
        """The backends, where they can ask a provider for its own count of a prompt."""
        return self._backends if isinstance(self._backends, TokenCounter) else None

    def use_directory(self, directory: Directory, tenants: Tenants | None = None) -> None:
        """Swap the directory (and the tenants' budgets); calls in flight keep the plan they
        already made."""
        self.directory = directory
        self._allowances.use(directory, self._allowances.tenants if tenants is None else tenants)

    # --- chat -----------------------------------------------------------------------------------

    def stream(self, call: ChatCall) -> StreamedAnswer:
        """The answer's chunks; the returned stream's `route` is whole once they are done."""
        meter = self._call_meter(call)
        return StreamedAnswer(self._stream(call, meter), meter.route)

    async def _stream(self, call: ChatCall, meter: _CallMeter) -> AsyncIterator[ChatChunk]:
        record = meter.record
        with meter.accounting(streamed=True):
            if call.options.key is not None:
                await self._allowances.ready(call.options.key)  # only a key's first call waits
            record.decision = await decision_for(
                self.directory, self._backends, call.name, call.request
            )
            plan, meter.allowances = self._plan(call.name, call.request, call.options, record)
            # The key's rpm and tpm, or KeyRateLimited; awaits only to let free units move here.
            await meter.allowances.reserve_rate(plan.candidates)
            backends = self._backends
            tenant = self._allowances.tenants.get(call.options.tenant)

            def open_stream(candidate: Candidate) -> AsyncIterator[ChatChunk]:
                meter.attempt_opened()
                return backends.stream(candidate, _for(call.request, tenant, candidate))

            prompt_tokens = call.request.estimated_prompt_tokens
            calls: StreamAdapter[ChatChunk] = StreamAdapter(
                open=open_stream,
                has_content=ChatChunk.has_content,
                usage=lambda: StreamedUsage(prompt_tokens),
            )
            attempts = execute(
                plan,
                calls,
                observe=self._observer(meter, meter.allowances),
                admit=self._admitter(record, meter.allowances),
                first_content_s=lambda candidate: self._first_token_s(candidate, call.options),
            )
            # aclosing: a caller who stops reading closes this generator at its `yield`; the
            # attempt must be booked then, before `accounting` settles the call's allowances,
            # not whenever the abandoned loop is collected.
            async with aclosing(attempts):
                async for candidate, chunk in attempts:
                    _served(record, candidate, self._notices)
                    meter.first_item()
                    yield chunk

    async def complete(self, call: ChatCall) -> Answer[ChatResult]:
        """The whole answer and its route. Same loop as `stream`, with one item: the result."""
        backends = self._backends
        tenant = self._allowances.tenants.get(call.options.tenant)

        async def one_result(candidate: Candidate) -> AsyncIterator[ChatResult]:
            yield await backends.complete(candidate, _for(call.request, tenant, candidate))

        calls: StreamAdapter[ChatResult] = StreamAdapter(
            open=one_result,
            has_content=lambda result: True,
            usage=lambda: ReportedUsage(_usage_of, call.request.estimated_prompt_tokens),
        )
        return await self._one_item(call, calls)

    # --- embeddings -----------------------------------------------------------------------------

    async def embed(self, call: EmbeddingCall) -> Answer[EmbeddingResult]:
        backends = self._backends

        async def one_result(candidate: Candidate) -> AsyncIterator[EmbeddingResult]:
            request = call.request.model_copy(update={"model": candidate.model.provider_model})
            yield await backends.embed(candidate, request)

        calls: StreamAdapter[EmbeddingResult] = StreamAdapter(
            open=one_result,
            has_content=lambda result: True,
            usage=lambda: ReportedUsage(_usage_of, call.request.estimated_input_tokens),
        )
        return await self._one_item(call, calls)

    # --- the parts ------------------------------------------------------------------------------

    async def _one_item(
        self, call: ChatCall | EmbeddingCall, calls: StreamAdapter[Result]
    ) -> Answer[Result]:
        """Plan, execute a one-item call, and settle its allowances and metrics whatever happens."""
        meter = self._call_meter(call)
        record, options = meter.record, call.options
        with meter.accounting(streamed=False):
            if options.key is not None:
                await self._allowances.ready(options.key)  # only a key's first call waits
            record.decision = await decision_for(
                self.directory, self._backends, call.name, call.request
            )
            plan, meter.allowances = self._plan(call.name, call.request, options, record)
            # The key's rpm and tpm, or KeyRateLimited; awaits only to let free units move here.
            await meter.allowances.reserve_rate(plan.candidates)
            items = execute(
                plan,
                calls,
                observe=self._observer(meter, meter.allowances),
                admit=self._admitter(record, meter.allowances),
                first_content_s=lambda candidate: self._answer_s(candidate, options),
            )
            result = await _only_item(items, record, self._notices)
            return Answer(result, meter.route())

    def _call_meter(self, call: ChatCall | EmbeddingCall) -> _CallMeter:
        options = call.options
        who = self._allowances.tenants.label_values(options.tenant, options.agent)
        return _CallMeter(self._meter, call, who)

    def _plan(
        self,
        name: str,
        request: ChatRequest | EmbeddingRequest,
        options: CallOptions,
        record: _CallRecord,
    ) -> tuple[Plan, CallAllowances]:
        """The plan, and the call's budget reserved: one synchronous step, so no other call on
        this replica can take the same remainder in between. The plan itself only asks questions:
        a probe or a free-tier unit is taken when an attempt opens (`_admit`)."""
        health = self._health
        directory = self.directory
        allowances = self._allowances.for_call(directory, request, options)
        checks = PlanChecks(
            provider_available=lambda p: health.is_available(p) or health.could_probe(p),
            deployed=self._backends.serves,
            no_replica=self._no_replica,
            free_tier_left=allowances.free_tier_left,
            budget_refusal=allowances.budget_refusal,
        )
        # A learned shortcut's per-prompt choice (routing/learned.py) heads the chain.
        chosen = record.decision.model if record.decision is not None else None
        plan = plan_call(
            directory, name, request, privacy=options.privacy, checks=checks, primary_id=chosen
        )
        downgrade = allowances.downgrade_to
        if not plan.candidates and allowances.refused_by_budget and downgrade not in (None, name):
            # The tenant's config says: when the budget cannot cover the call, take a cheaper
            # shortcut rather than refuse. The answer says so (downgraded_from, skipped).
            assert downgrade is not None
            allowances.start_over()
            cheaper = plan_call(
                directory, downgrade, request, privacy=options.privacy, checks=checks
            )
            record.downgraded_from = name
            plan = Plan(
                name=name,
                shortcut=cheaper.shortcut,
                candidates=cheaper.candidates,
                skipped=plan.skipped + cheaper.skipped,
                unfit=cheaper.unfit,
            )
        record.shortcut = plan.shortcut
        record.skipped = list(plan.skipped)
        if not plan.candidates and allowances.refused_by_budget:
            allowances.finish()
            raise allowances.exceeded()
        allowances.reserve_budget(plan.candidates)
        return plan, allowances

    def _admitter(
        self, record: _CallRecord, allowances: CallAllowances
    ) -> Callable[[Candidate], str | None]:
        return lambda candidate: self._admit(candidate, record, allowances)

    def _admit(
        self, candidate: Candidate, record: _CallRecord, allowances: CallAllowances
    ) -> str | None:
        """Take what an attempt at `candidate` needs, as it opens: its free-tier reservation, and
        the provider's one probe when the breaker is half-open. None, or why it cannot go now
        (then nothing stays taken, and the route says why it was skipped)."""
        refusal = allowances.open_attempt(candidate)
        provider = candidate.model.provider
        if refusal is None and not self._health.is_available(provider):
            if not self._health.try_acquire_probe(provider):
                allowances.cancel_attempt(candidate)
                refusal = (
                    f"provider {provider}: half-open, its one probe is not ours yet"
                    if self._health.could_probe(provider)
                    else f"provider {provider}: breaker open"
                )
        if refusal is not None:
            record.skipped.append(Skipped(model=candidate.model.id, reason=refusal))
        return refusal

    # Per attempt, the most seconds to the first content (design §4 step 3): the provider's own
    # limit (providers.yaml) and the caller's `first_token_s`, the smaller. A stream's first
    # content is its first token; a whole answer's is the answer, so its provider limit is the
    # whole-answer one. `execute` enforces both; no adapter does. The deadline says whether it
    # is the caller's: a caller's own deadline running out says nothing of the provider's health.

    def _first_token_s(self, candidate: Candidate, options: CallOptions) -> Deadline | None:
        provider = self.directory.providers[candidate.model.provider]
        return _deadline(provider.timeouts.first_token_s, options.first_token_s)

    def _answer_s(self, candidate: Candidate, options: CallOptions) -> Deadline | None:
        provider = self.directory.providers[candidate.model.provider]
        return _deadline(provider.timeouts.total_s, options.first_token_s)

    def _observer(
        self, meter: _CallMeter, allowances: CallAllowances
    ) -> Callable[[AttemptReport], None]:
        return lambda report: self._observe(report, meter, allowances)

    def _observe(
        self,
        report: AttemptReport,
        meter: _CallMeter,
        allowances: CallAllowances,
    ) -> None:
        """Book one attempt: ledger record, breaker outcome, leases, metrics, the call's route."""
        record, options = meter.record, meter.options
        model = report.candidate.model
        record.attempts.append(report.as_attempt())
        record.usage = record.usage + report.usage
        # Only the provider's own failures count against its breaker: a prompt too long for the
        # model, a caller's error, a caller who hung up or the caller's own deadline running out
        # say nothing of its health; nor does one deployment that lost its replicas, which Serve
        # told us of (the provider's other models live elsewhere).
        error = report.error
        if report.outcome == "ok":
            self._health.record(model.provider, True)
        elif isinstance(error, FailoverError) and not isinstance(
            error, ContextLengthExceeded | CallerDeadline | NoRunningReplica
        ):
            self._health.record(model.provider, False, error)
        booked = UsageRecord.priced(
            usage=report.usage,
            pricing=model.pricing,
            call_id=record.call_id,
            request_id=options.request_id,
            attempt=report.number,
            tenant=options.tenant,
            agent=options.agent,
            shortcut=record.shortcut,
            model=model.id,
            provider=model.provider,
            latency_ms=report.latency_ms,
            outcome=report.outcome,
            ttft_ms=report.ttft_ms,
            error_kind=type(error).__name__ if error is not None else None,
            gpu_tokens_per_s=gpu_tokens_per_s(model),
        )
        self._ledger.book(booked)
        record.cost_usd += booked.cost_usd
        record.gpu_cost_usd += booked.gpu_cost_usd
        allowances.observe(report, booked.cost_usd)
        labels = meter.labels(model.id, model.provider)
        self._meter.attempt(
            labels,
            input_tokens=report.usage.input_tokens,
            output_tokens=report.usage.output_tokens,
            cost_usd=booked.cost_usd,
            gpu_cost_usd=booked.gpu_cost_usd,
        )
        if len(record.attempts) > 1:
            previous = record.attempts[-2]
            self._meter.failover(
                labels, from_model=previous.model, reason=previous.error_kind or "unknown"
            )


def _no_reason(model: ModelProfile) -> str | None:
    return None


def _usage_of(result: ChatResult | EmbeddingResult) -> Usage:
    return result.usage


def _deadline(providers_s: float | None, callers_s: float | None) -> Deadline | None:
    """The smaller limit; on a tie the provider's, which it was configured to meet."""
    if callers_s is not None and (providers_s is None or callers_s < providers_s):
        return Deadline(callers_s, callers=True)
    return None if providers_s is None else Deadline(providers_s)


def _served(record: _CallRecord, candidate: Candidate, notices: Mapping[str, str]) -> None:
    record.model, record.provider = candidate.model.id, candidate.model.provider
    record.notice = notices.get(candidate.model.id)


class _CallRecord:
    """What one call did so far, noted by the gateway as it goes; `route()` is what it returns.
    Private to the gateway: callers get frozen `Route`s, never this."""

    __slots__ = (
        "attempts",
        "call_id",
        "cost_usd",
        "decision",
        "downgraded_from",
        "gpu_cost_usd",
        "model",
        "name",
        "notice",
        "provider",
        "request_id",
        "shortcut",
        "skipped",
        "usage",
    )

    def __init__(self, request_id: str | None, name: str) -> None:
        self.call_id = new_call_id()
        self.request_id = request_id
        self.name = name
        self.shortcut: str | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.attempts: list[Attempt] = []
        self.skipped: list[Skipped] = []
        self.usage = Usage()
        self.cost_usd = 0.0
        self.gpu_cost_usd = 0.0
        self.downgraded_from: str | None = None
        self.decision: Decision | None = None
        self.notice: str | None = None

    def route(self, overhead_ms: float) -> Route:
        return Route(
            call_id=self.call_id,
            request_id=self.request_id,
            name=self.name,
            shortcut=self.shortcut,
            model=self.model,
            provider=self.provider,
            attempts=list(self.attempts),
            skipped=list(self.skipped),
            usage=self.usage,
            cost_usd=self.cost_usd,
            gpu_cost_usd=self.gpu_cost_usd,
            downgraded_from=self.downgraded_from,
            decision=self.decision,
            notice=self.notice,
            overhead_ms=round(overhead_ms, 3),
        )


class _CallMeter:
    """Times one call, settles its allowances, tells the meter how it ended, and says its route.

    Overhead is the call's time outside its attempts. While an attempt is open, the time since it
    opened belongs to the attempt, not to the overhead: so a stream's overhead read at its first
    chunk is what Switchyard spent before the serving attempt began.
    """

    __slots__ = (
        "_first_at",
        "_meter",
        "_open_at",
        "_opened",
        "_started",
        "_who",
        "allowances",
        "options",
        "outcome",
        "record",
    )

    def __init__(self, meter: Meter, call: ChatCall | EmbeddingCall, who: tuple[str, str]) -> None:
        self._meter = meter
        self.options = call.options
        self._who = who  # the (tenant, agent) label values: `Tenants.label_values`
        self._started = time.perf_counter()
        self._first_at: float | None = None
        self._opened = 0  # attempts opened so far
        self._open_at: float | None = None  # when the last of them opened
        self.record = _CallRecord(call.options.request_id, call.name)
        self.outcome = "cancelled"
        self.allowances: CallAllowances | None = None  # set once the call is planned

    @contextmanager
    def accounting(self, *, streamed: bool) -> Iterator[None]:
        """Around a whole call: however it ends (an answer, an error, a caller gone), its
        reservations are settled and the metrics told the outcome. An error leaves carrying the
        call's route."""
        try:
            yield
            self.outcome = "ok"
        except BaseException as error:
            self.failed(error)
            if isinstance(error, Exception):
                with_route(error, self.route())
            raise
        finally:
            if self.allowances is not None:
                self.allowances.finish()
            self.done(streamed=streamed)

    def attempt_opened(self) -> None:
        """Only streams tell it: a whole answer's overhead is read after its attempts ended."""
        self._opened += 1
        self._open_at = time.perf_counter()

    def first_item(self) -> None:
        if self._first_at is None:
            self._first_at = time.perf_counter()

    def failed(self, error: BaseException) -> None:
        self.outcome = type(error).__name__ if isinstance(error, Exception) else "cancelled"

    def overhead_s(self) -> float:
        attempts = self.record.attempts  # every attempt that opened is reported when it ends
        until = time.perf_counter()
        if self._open_at is not None and self._opened > len(attempts):
            until = self._open_at  # an attempt is in flight: its time so far is its own
        attempts_s = sum(attempt.duration_ms for attempt in attempts) / 1000
        return max(0.0, until - self._started - attempts_s)

    def route(self) -> Route:
        return self.record.route(self.overhead_s() * 1000)

    def labels(self, model: str, provider: str) -> CallLabels:
        tenant, agent = self._who
        return CallLabels(model, provider, self.record.shortcut or "", tenant, agent)

    def done(self, *, streamed: bool) -> None:
        total = time.perf_counter() - self._started
        record = self.record
        last = record.attempts[-1] if record.attempts else None
        # Nothing tried (an unknown name, a refused budget): no model label, so that what callers
        # type cannot grow the metrics' label sets.
        model = record.model or (last.model if last else "")
        provider = record.provider or (last.provider if last else "")
        ttft = None
        if streamed and self._first_at is not None:
            ttft = self._first_at - self._started
        self._meter.call(
            self.labels(model, provider),
            outcome=self.outcome,
            latency_s=total,
            ttft_s=ttft,
            overhead_s=self.overhead_s(),
        )


async def _only_item(
    items: AsyncIterator[tuple[Candidate, Result]], record: _CallRecord, notices: Mapping[str, str]
) -> Result:
    """The single item of a one-item execution, read to its end so the attempt is booked."""
    served: tuple[Candidate, Result] | None = None
    async for item in items:
        served = item
    assert served is not None  # execute() yields an item or raises
    candidate, result = served
    _served(record, candidate, notices)
    return result


def _for(request: ChatRequest, tenant: TenantConfig | None, candidate: Candidate) -> ChatRequest:
    """The request as this candidate's provider takes it: its own model name, and `max_tokens`
    set to the output the call's reservation assumed at this model (`output_cap`), so that no
    attempt's output can outrun what was reserved. A caller's own `max_tokens` goes as given;
    without one, a bare gateway (no tenants config) sends DEFAULT_OUTPUT_TOKENS, as with budgets."""
    model = candidate.model
    cap = output_cap(request, tenant, model)
    return request.model_copy(update={"model": model.provider_model, "max_tokens": cap})
