"""The fail-over loop on its own (design §4 steps 3–6): scripted candidates, every attempt reported.

Items are strings; "" is an item without content (like a stream's closing usage chunk), and an
exception in a script is raised in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from deployments.canonical import Skipped, Usage
from deployments.errors import (
    AllCandidatesFailed,
    CallerError,
    NoCandidates,
    ProviderServerError,
    StreamInterrupted,
)
from serve_app.routing.failover import AttemptReport, Deadline, StreamAdapter, execute
from serve_app.routing.plan import Candidate, Plan
from serve_app.routing.usage import ReportedUsage
from tests.mini_directory import mini_directory

DIRECTORY = mini_directory()
CHAIN = ("alpha/a1", "beta/b1", "local/l1")
HANG = "hang"


def plan(*model_ids: str, skipped: Sequence[Skipped] = ()) -> Plan:
    candidates = tuple(Candidate(DIRECTORY.models[model_id]) for model_id in model_ids)
    return Plan(name="smart", shortcut="smart", candidates=candidates, skipped=tuple(skipped))


def failure(model_id: str) -> ProviderServerError:
    return ProviderServerError("upstream 500", provider=model_id.split("/")[0], status=500)


class Scripted:
    """Each candidate's items; `opened` is the order candidates were opened in."""

    def __init__(self, scripts: dict[str, list[str | BaseException]]) -> None:
        self.scripts = scripts
        self.opened: list[str] = []

    def adapter(self) -> StreamAdapter[str]:
        return StreamAdapter(
            open=self._open,
            has_content=bool,
            usage=lambda: ReportedUsage(
                lambda item: Usage(output_tokens=len(item)) if item else None,
                prompt_tokens=lambda: 7,
            ),
        )

    async def _open(self, candidate: Candidate) -> AsyncIterator[str]:
        self.opened.append(candidate.model.id)
        for item in self.scripts.get(candidate.model.id, ["ok"]):
            if isinstance(item, BaseException):
                raise item
            if item == HANG:
                await asyncio.sleep(3600)
            yield item


async def run(
    scripted: Scripted, the_plan: Plan, **options: object
) -> tuple[list[tuple[str, str]], list[AttemptReport]]:
    reports: list[AttemptReport] = []
    items = [
        (candidate.model.id, item)
        async for candidate, item in execute(
            the_plan,
            scripted.adapter(),
            observe=reports.append,
            **options,  # type: ignore[arg-type]
        )
    ]
    return items, reports


async def test_the_first_candidate_serves_and_is_reported_once() -> None:
    scripted = Scripted({"alpha/a1": ["hel", "lo", ""]})
    items, reports = await run(scripted, plan(*CHAIN))
    assert items == [("alpha/a1", "hel"), ("alpha/a1", "lo"), ("alpha/a1", "")]
    assert scripted.opened == ["alpha/a1"]
    [report] = reports
    assert (report.number, report.outcome, report.error) == (1, "ok", None)
    assert report.usage == Usage(output_tokens=2)  # the last item that carried usage


async def test_a_failure_before_content_fails_over_and_a_crash_counts_as_unavailable() -> None:
    scripted = Scripted({"alpha/a1": [failure("alpha/a1")], "beta/b1": ["", RuntimeError("boom")]})
    items, reports = await run(scripted, plan(*CHAIN))
    assert items == [("beta/b1", ""), ("local/l1", "ok")]  # no content yet: still free to move
    assert [(r.candidate.model.id, r.outcome) for r in reports] == [
        ("alpha/a1", "failed"),
        ("beta/b1", "failed"),
        ("local/l1", "ok"),
    ]
    assert [type(r.error).__name__ for r in reports[:2]] == [
        "ProviderServerError",
        "ProviderUnavailable",
    ]


async def test_a_failure_after_content_interrupts_instead_of_failing_over() -> None:
    scripted = Scripted({"alpha/a1": ["hel", failure("alpha/a1")]})
    reports: list[AttemptReport] = []
    received: list[str] = []
    with pytest.raises(StreamInterrupted, match="failed after the answer began") as caught:
        async for _, item in execute(plan(*CHAIN), scripted.adapter(), observe=reports.append):
            received.append(item)
    assert received == ["hel"]
    assert scripted.opened == ["alpha/a1"]
    assert caught.value.status == 500
    assert [r.outcome for r in reports] == ["interrupted"]


async def test_the_callers_error_returns_at_once() -> None:
    refused = CallerError("bad tool schema", provider="alpha", status=400)
    scripted = Scripted({"alpha/a1": [refused]})
    reports: list[AttemptReport] = []
    with pytest.raises(CallerError):
        await run_into(scripted, reports)
    assert scripted.opened == ["alpha/a1"]
    assert [r.outcome for r in reports] == ["caller_error"]


async def run_into(scripted: Scripted, reports: list[AttemptReport]) -> None:
    async for _ in execute(plan(*CHAIN), scripted.adapter(), observe=reports.append):
        pass


async def test_every_candidate_failing_lists_every_attempt_and_what_was_skipped() -> None:
    skipped = [Skipped(model="local/l2", reason="privacy: local only")]
    scripted = Scripted({model: [failure(model)] for model in CHAIN})
    with pytest.raises(AllCandidatesFailed) as caught:
        await run(scripted, plan(*CHAIN, skipped=skipped))
    attempts = caught.value.attempts
    assert [(a.model, a.outcome, a.error_kind, a.status) for a in attempts] == [
        (model, "failed", "ProviderServerError", 500) for model in CHAIN
    ]
    assert caught.value.skipped == skipped


async def test_an_empty_plan_tries_nothing() -> None:
    skipped = [Skipped(model="alpha/a1", reason="provider alpha: breaker open")]
    with pytest.raises(NoCandidates) as caught:
        await run(Scripted({}), plan(skipped=skipped))
    assert caught.value.skipped == skipped


async def test_a_candidate_with_no_first_content_in_time_fails_over() -> None:
    scripted = Scripted({"alpha/a1": [HANG]})
    items, reports = await run(
        scripted,
        plan(*CHAIN),
        first_content_s=lambda c: Deadline(0.05) if c.model.id == "alpha/a1" else None,
    )
    assert items == [("beta/b1", "ok")]
    assert type(reports[0].error).__name__ == "ProviderTimeout"


async def test_a_candidate_not_admitted_is_skipped_unopened_and_numbering_goes_on() -> None:
    scripted = Scripted({"beta/b1": [failure("beta/b1")], "local/l1": [failure("local/l1")]})
    with pytest.raises(AllCandidatesFailed) as caught:
        await run(
            scripted,
            plan(*CHAIN),
            admit=lambda c: "free tier used up" if c.model.id == "alpha/a1" else None,
        )
    assert scripted.opened == ["beta/b1", "local/l1"]
    assert [a.model for a in caught.value.attempts] == ["beta/b1", "local/l1"]
    assert caught.value.skipped == [Skipped(model="alpha/a1", reason="free tier used up")]


async def test_a_caller_who_stops_reading_is_booked_as_interrupted() -> None:
    scripted = Scripted({"alpha/a1": ["hel", "lo", ""]})
    reports: list[AttemptReport] = []
    items = execute(plan(*CHAIN), scripted.adapter(), observe=reports.append)
    assert await anext(items) == (plan(*CHAIN).candidates[0], "hel")
    await items.aclose()
    assert [(r.outcome, r.usage) for r in reports] == [("interrupted", Usage(output_tokens=3))]
