"""Keys, their store and each replica's copy: SQLite on disk, no Ray."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from serve_app.identity.book import KeyBook
from serve_app.identity.cache import KeyCache, LocalKeys
from serve_app.identity.keys import KeyRequest, key_hash, make_key
from serve_app.identity.names import check_name


def test_a_key_is_long_random_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    book = KeyBook(tmp_path / "ledger.sqlite")
    key, record = make_key(KeyRequest(tenant="acme"))
    other, _ = make_key(KeyRequest(tenant="acme"))
    book.add(record, key_hash(key))

    assert key.startswith("sy-") and len(key) > 40 and key != other
    stored = sqlite3.connect(tmp_path / "ledger.sqlite").execute("SELECT * FROM api_key").fetchall()
    assert key not in repr(stored) and key_hash(key) in repr(stored)
    assert record.hint == key[-4:]


def test_an_unchanged_table_answers_nothing_and_a_revoked_key_leaves_the_snapshot(
    tmp_path: Path,
) -> None:
    book = KeyBook(tmp_path / "ledger.sqlite")
    key, record = make_key(KeyRequest(tenant="acme"))
    book.add(record, key_hash(key))
    version, keys = book.snapshot(None) or ("", {})
    assert keys == {key_hash(key): record}
    assert book.snapshot(version) is None

    assert book.revoke(record.id) is not None
    changed = book.snapshot(version)
    assert changed is not None and changed[1] == {}
    assert book.revoke("key_nope") is None


def test_a_restarted_book_never_claims_an_old_version(tmp_path: Path) -> None:
    first = KeyBook(tmp_path / "ledger.sqlite")
    key, record = make_key(KeyRequest(tenant="acme"))
    version = first.snapshot(None)
    assert version is not None
    first.add(record, key_hash(key))
    again = KeyBook(tmp_path / "ledger.sqlite")  # the actor restarted: same file, new epoch
    snapshot = again.snapshot(version[0])
    assert snapshot is not None and key_hash(key) in snapshot[1]


def test_expired_keys_are_not_usable(tmp_path: Path) -> None:
    book = KeyBook(tmp_path / "ledger.sqlite")
    key, record = make_key(KeyRequest(tenant="acme", expires_at=1.0))
    book.add(record, key_hash(key))
    snapshot = book.snapshot(None)
    assert snapshot is not None and snapshot[1] == {}


@pytest.mark.parametrize("name", ["", "a" * 65, "acme corp", "acme/../x", "ünï", "a\nb"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="tenant must be 1 to 64"):
        check_name("tenant", name)
    with pytest.raises(ValidationError, match="tenant"):
        KeyRequest(tenant=name)


async def test_a_key_made_through_another_replica_works_here_after_one_refresh(
    tmp_path: Path,
) -> None:
    service = LocalKeys(KeyBook(tmp_path / "ledger.sqlite"))
    here, there = KeyCache(service, refresh_s=0.01), KeyCache(service, refresh_s=0.01)
    try:
        await here.refresh()
        key, record = make_key(KeyRequest(tenant="acme"))
        await there.service.add(record, key_hash(key))  # the other replica's admin call
        there.remember(record, key_hash(key))

        assert here.get(key_hash(key)) is None  # not known here yet
        assert await here.find(key_hash(key)) == record  # waits for the next round

        await service.revoke(record.id)
        for _ in range(200):  # revoked: gone from this replica's copy within a few rounds
            if here.get(key_hash(key)) is None:
                break
            await asyncio.sleep(0.01)
        assert here.get(key_hash(key)) is None
    finally:
        await here.aclose()
        await there.aclose()


async def test_a_guessed_key_costs_the_actor_no_lookup(tmp_path: Path) -> None:
    calls: list[str | None] = []
    book = KeyBook(tmp_path / "ledger.sqlite")

    class Counting(LocalKeys):
        async def snapshot(self, known: str | None):  # type: ignore[no-untyped-def]
            calls.append(known)
            return await super().snapshot(known)

    cache = KeyCache(Counting(book), refresh_s=60)
    try:
        guesses = [cache.find(key_hash(f"sy-guess-{n}"), wait_s=1) for n in range(100)]
        assert await asyncio.gather(*guesses) == [None] * 100
        assert calls == [None]  # the one background round, however many guesses
    finally:
        await cache.aclose()
