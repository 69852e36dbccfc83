"""Execute a plan: try each candidate in turn, fail over one hop, report every attempt.

Design §4 steps 3–6. One loop serves both whole answers and streams: a whole answer is a stream of
one item whose content is all there is. The loop fails over on `FailoverError` (and on the
downstream replica itself failing) only while nothing with content has gone to the caller; after
that a failure ends the stream with `StreamInterrupted`, never a quiet end. A `CallerError` returns
at once. When every candidate failed, `AllCandidatesFailed` lists every attempt.

Every attempt, whatever its end, is handed to `observe` exactly once: that is where the ledger
record and the breaker outcome come from, so nothing is lost and nothing is counted twice. Its
usage is its `AttemptUsage`'s, which sees every item and knows how the attempt ended: the
provider's own count, or an estimate when the attempt ended before the provider gave one.

Two things the loop owns, so that no other layer decides them again:

- **Opening an attempt.** The plan only asked questions (is the breaker closed, could it be
  probed, is a free tier left); what an attempt needs, a half-open provider's one probe or a
  free-tier reservation, is taken by `admit` just before the candidate is called. A candidate
  whose needs cannot be met then is skipped with the reason `admit` gives; a backup never tried
  takes nothing.
- **The first-content deadline**, per attempt (`first_content_s`): the most seconds from opening
  the attempt to its first item with content (a stream's first token; a whole answer, which
  arrives at once). It covers every backend alike, cloud adapters and local models. Adapters keep
  only their SDK's transport timeouts (connect, read). A deadline that was the caller's own
  (`Deadline.callers`) ends the attempt with `CallerDeadline`, which no breaker counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from deployments.canonical import Attempt, Skipped, Usage
from deployments.errors import (
    AllCandidatesFailed,
    CallerDeadline,
    CallerError,
    FailoverError,
    NoCandidates,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamInterrupted,
    SwitchyardError,
)
from serve_app.routing.plan import Candidate, Plan, no_candidates

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)
Outcome = Literal["ok", "failed", "caller_error", "interrupted"]


@dataclass(frozen=True, slots=True)
class Deadline:
    """An attempt's most seconds to its first content, and whose limit that is."""

    seconds: float
    callers: bool = False  # the caller's own `first_token_s`, not the provider's limit


@dataclass(frozen=True)
class AttemptReport:
    """What one attempt did: enough for a ledger record and a breaker outcome."""

    candidate: Candidate
    number: int  # 1-based within the request
    outcome: Outcome
    usage: Usage
    ttft_ms: float | None
    latency_ms: float
    error: BaseException | None = None

    def as_attempt(self) -> Attempt:
        error = self.error
        return Attempt(
            model=self.candidate.model.id,
            provider=self.candidate.model.provider,
            outcome="ok"
            if self.outcome == "ok"
            else "caller_error"
            if self.outcome == "caller_error"
            else "failed",
            error_kind=type(error).__name__ if error is not None else None,
            status=error.status if isinstance(error, ProviderError) else None,
            duration_ms=round(self.latency_ms, 2),
            message=str(error) if error is not None else None,
        )


class AttemptUsage(Protocol[Item_contra]):
    """What one attempt used (`serve_app.routing.usage`): told each item as it goes by, asked
    once, when the attempt has ended, with how it ended."""

    def add(self, item: Item_contra) -> None: ...

    def usage(self, outcome: Outcome) -> Usage: ...


@dataclass(frozen=True)
class StreamAdapter(Generic[Item]):
    """How the loop reads the items of one kind of call."""

    open: Callable[[Candidate], AsyncIterator[Item]]
    has_content: Callable[[Item], bool]
    usage: Callable[[], AttemptUsage[Item]]  # a fresh one for each attempt


async def execute(
    plan: Plan,
    calls: StreamAdapter[Item],
    *,
    observe: Callable[[AttemptReport], None],
    admit: Callable[[Candidate], str | None] = lambda candidate: None,
    first_content_s: Callable[[Candidate], Deadline | None] = lambda candidate: None,
    clock: Callable[[], float] = time.perf_counter,
) -> AsyncGenerator[tuple[Candidate, Item], None]:
    """Yield `(candidate, item)` from the first candidate that serves the plan.

    `admit(candidate)` takes what an attempt needs just before it opens, and returns None, or why
    the candidate cannot be tried now (it is then skipped, having taken nothing)."""
    if not plan.candidates:
        raise no_candidates(plan)
    attempts: list[Attempt] = []
    skipped = list(plan.skipped)
    number = 0
    for candidate in plan.candidates:
        refusal = admit(candidate)
        if refusal is not None:
            skipped.append(Skipped(model=candidate.model.id, reason=refusal))
            continue
        number += 1
        started = clock()
        limit = first_content_s(candidate)
        content_by = None if limit is None else asyncio.get_running_loop().time() + limit.seconds
        ttft_ms: float | None = None
        used = calls.usage()
        content_sent = False

        def report(outcome: Outcome, error: BaseException | None = None) -> AttemptReport:
            attempt = AttemptReport(
                candidate=candidate,  # noqa: B023 - called within this iteration only
                number=number,  # noqa: B023
                outcome=outcome,
                usage=used.usage(outcome),  # noqa: B023
                ttft_ms=ttft_ms,  # noqa: B023
                latency_ms=(clock() - started) * 1000,  # noqa: B023
                error=error,
            )
            observe(attempt)
            return attempt

        items = calls.open(candidate)
        try:
            while True:
                try:
                    item = await _next_before(items, None if content_sent else content_by)
                except StopAsyncIteration:
                    break
                except _Late as late:
                    assert limit is not None  # only a deadline makes _Late
                    raise _late_error(limit, candidate) from late.__cause__
                if ttft_ms is None:
                    ttft_ms = (clock() - started) * 1000
                used.add(item)
                content_sent = content_sent or calls.has_content(item)
                yield candidate, item
        except CallerError as error:
            report("caller_error", error)
            raise
        except (asyncio.CancelledError, GeneratorExit) as error:
            # The caller went away: book what was used (estimated: the provider's count never
            # came), then let the cancellation through.
            report("interrupted", error)
            raise
        except Exception as error:
            failure = _as_failover(error, candidate)
            if content_sent:
                report("interrupted", failure)
                raise StreamInterrupted(
                    f"{candidate.model.id} failed after the answer began: {failure}",
                    provider=candidate.model.provider,
                    model=candidate.model.id,
                    status=failure.status,
                ) from error
            attempts.append(report("failed", failure).as_attempt())
            continue
        finally:
            await _close(items)
        report("ok")
        return
    if not attempts:
        raise NoCandidates(plan.name, skipped=skipped)
    raise AllCandidatesFailed(plan.name, attempts=attempts, skipped=skipped)


class _Late(Exception):
    """The first-content deadline passed (apart from a TimeoutError the backend raised itself)."""


async def _next_before(items: AsyncIterator[Item], deadline: float | None) -> Item:
    """The next item; `_Late` once the event loop's clock passes `deadline` (None: no bound).

    Only the wait for one item is bounded, never the caller's work between items: a timeout
    around a `yield` would cancel whatever the consumer awaits at that moment."""
    if deadline is None:
        return await anext(items)
    scope = asyncio.timeout_at(deadline)
    try:
        async with scope:
            return await anext(items)
    except TimeoutError as error:
        if scope.expired():
            raise _Late() from error
        raise


def _late_error(limit: Deadline, candidate: Candidate) -> ProviderTimeout:
    if limit.callers:
        return CallerDeadline(
            f"no first token within the caller's first_token_s ({limit.seconds:g}s)",
            provider=candidate.model.provider,
            model=candidate.model.id,
        )
    return ProviderTimeout(
        f"no first token within {limit.seconds:g}s",
        provider=candidate.model.provider,
        model=candidate.model.id,
    )


def _as_failover(error: Exception, candidate: Candidate) -> FailoverError:
    """The error as the router sees it: a downstream crash counts as that provider being down."""
    if isinstance(error, FailoverError):
        return error
    if isinstance(error, SwitchyardError):
        message = str(error)
    else:
        message = f"{type(error).__name__}: {error}"
    return ProviderUnavailable(message, provider=candidate.model.provider, model=candidate.model.id)


async def _close(items: AsyncIterator[object]) -> None:
    closer = getattr(items, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:
            pass
