"""LedgerClient against a fake actor that can fail, lose replies, and acknowledge in part."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployments.ledger import CostLedger, LedgerClient, UsageRecord


def record(i: int, attempt: int = 1) -> UsageRecord:
    return UsageRecord(
        call_id=f"req-{i}",
        attempt=attempt,
        ts=datetime(2026, 3, 1, 12, tzinfo=UTC),
        tenant="acme",
        agent="bot",
        model="openai/gpt-5",
        provider="openai",
        cost_usd=0.001,
        price_version="v1",
        latency_ms=10.0,
        outcome="ok",
    )


class FakeLedger:
    """A real CostLedger over SQLite, reached through an async call that can misbehave."""

    def __init__(self, path: Path) -> None:
        self.ledger = CostLedger(path)
        self.fail_next = 0  # calls that raise before writing
        self.lose_next = 0  # calls that write, then lose the reply
        self.ack_only_first = False
        self.batches: list[int] = []

    async def write(self, batch: list[UsageRecord]) -> Sequence[tuple[str, int]]:
        self.batches.append(len(batch))
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("actor died")
        acked = self.ledger.write(batch)
        if self.lose_next:
            self.lose_next -= 1
            raise TimeoutError("reply lost")
        return acked[:1] if self.ack_only_first else acked


@pytest.fixture
def fake(tmp_path: Path) -> FakeLedger:
    return FakeLedger(tmp_path / "ledger.db")


async def test_book_returns_at_once_and_flush_delivers(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, batch_size=100)
    for i in range(250):
        client.book(record(i))
    assert fake.batches == []  # booking never sends
    assert client.backlog == 250
    assert await client.flush()
    assert fake.batches == [100, 100, 50]
    assert fake.ledger.count() == 250
    assert client.backlog == 0 and client.acked == 250


async def test_a_failed_send_is_kept_and_resent(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, interval_s=0.001)
    for i in range(10):
        client.book(record(i))
    fake.fail_next = 2
    assert not await client.flush_once()
    assert client.backlog == 10  # nothing lost
    assert await client.flush()
    assert fake.ledger.count() == 10
    assert client.failed_sends == 2


async def test_a_lost_reply_is_resent_and_deduplicated(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write)
    for i in range(10):
        client.book(record(i))
    fake.lose_next = 1
    assert not await client.flush_once()
    assert fake.ledger.count() == 10  # the actor did write them
    assert await client.flush()
    assert fake.ledger.count() == 10  # and the resend counted none twice
    assert fake.batches == [10, 10]


async def test_unacknowledged_records_stay_until_acknowledged(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, batch_size=3)
    for i in range(3):
        client.book(record(i))
    fake.ack_only_first = True
    assert not await client.flush_once()
    assert client.backlog == 2
    fake.ack_only_first = False
    assert await client.flush()
    assert fake.ledger.count() == 3


async def test_records_keep_their_order_across_a_failure(fake: FakeLedger) -> None:
    sent: list[str] = []

    async def write(batch: list[UsageRecord]) -> Sequence[tuple[str, int]]:
        sent.extend(r.call_id for r in batch)
        return await fake.write(batch)

    client = LedgerClient(write, batch_size=2)
    for i in range(4):
        client.book(record(i))
    fake.fail_next = 1
    await client.flush_once()
    client.book(record(4))
    assert await client.flush()
    assert sent == ["req-0", "req-1", "req-0", "req-1", "req-2", "req-3", "req-4"]


async def test_flush_gives_up_at_its_deadline_but_keeps_everything(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, interval_s=0.001, max_backoff_s=0.001)
    client.book(record(1))
    fake.fail_next = 10**9
    assert not await client.flush(timeout_s=0.05)
    assert client.backlog == 1


async def test_a_big_backlog_is_kept_and_warned_about(
    fake: FakeLedger, caplog: pytest.LogCaptureFixture
) -> None:
    client = LedgerClient(fake.write, warn_backlog=50, batch_size=1_000)
    for i in range(400):
        client.book(record(i))
    warnings = [r for r in caplog.records if "ledger backlog" in r.getMessage()]
    assert len(warnings) == 4  # at 50, 100, 200 and 400: each doubling, not each record
    assert client.backlog == 400
    assert await client.flush()
    assert fake.ledger.count() == 400


async def test_the_background_task_sends_without_being_asked(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, interval_s=0.01)
    client.start()
    fake.fail_next = 2
    for i in range(30):
        client.book(record(i))
    deadline = asyncio.get_running_loop().time() + 10
    while fake.ledger.count() < 30 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert fake.ledger.count() == 30
    client.book(record(30))
    assert await client.aclose()  # stops the task and sends the rest
    assert fake.ledger.count() == 31


async def test_a_full_batch_wakes_the_sender_early(fake: FakeLedger) -> None:
    client = LedgerClient(fake.write, batch_size=5, interval_s=3_600)
    client.start()
    for i in range(5):
        client.book(record(i))
    deadline = asyncio.get_running_loop().time() + 10
    while fake.ledger.count() < 5 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert fake.ledger.count() == 5
    await client.aclose()
