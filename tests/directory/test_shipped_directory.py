"""The directory Switchyard ships: it validates, and its shortcuts go where a user expects."""

from __future__ import annotations

import pytest

from directory.loader import load_directory
from directory.schema import Directory


@pytest.fixture(scope="module")
def shipped() -> Directory:
    return load_directory()


def test_the_counts(shipped: Directory) -> None:
    assert (len(shipped.providers), len(shipped.models), len(shipped.shortcuts)) == (7, 53, 25)


def test_the_providers_cover_every_adapter(shipped: Directory) -> None:
    adapters = sorted(p.adapter for p in shipped.providers.values())
    assert adapters.count("openai-compatible") == 3
    assert {"anthropic", "openai", "google", "vllm"} <= set(adapters)


def test_the_shortcuts_the_issue_names_exist(shipped: Directory) -> None:
    wanted = """smart fast workhorse cheap code reason creative extract classify embed vision
                long-context tools private summarize translate""".split()
    assert set(wanted) <= set(shipped.shortcuts)


def test_private_stays_local_end_to_end(shipped: Directory) -> None:
    assert shipped.local_only("private")
    assert [m.privacy for m in shipped.chain("private")] == ["local"] * 3


def test_embed_goes_to_embedding_models(shipped: Directory) -> None:
    assert [m.kind for m in shipped.chain("embed")] == ["embedding"] * 3


def test_every_chain_has_three_distinct_models_of_one_kind(shipped: Directory) -> None:
    for model_id in shipped.models:
        chain = shipped.chain(model_id)
        assert len({m.id for m in chain}) == 3, model_id
        assert len({m.kind for m in chain}) == 1, model_id


def test_vision_and_long_context_shortcuts_can_take_their_inputs(shipped: Directory) -> None:
    assert shipped.resolve("vision").features.vision
    long_context = shipped.shortcuts["long-context"]
    assert shipped.resolve("long-context").context_window >= (
        long_context.select.min_context_window if long_context.select else 500_000
    )
