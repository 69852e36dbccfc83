"""What the router reads: resolve, chain, provider_of, local_only, and the round trip to a dict."""

from __future__ import annotations

import json
import pickle

import pytest

from directory.errors import InvalidDirectory, UnknownName
from directory.loader import directory_from_dict, load_directory
from directory.schema import Directory
from tests.directory.helpers import MINI


@pytest.fixture(scope="module")
def mini() -> Directory:
    return load_directory(MINI)


def test_a_shortcut_and_a_model_id_resolve_to_profiles(mini: Directory) -> None:
    assert mini.resolve("smart").id == "anthropic/claude-opus-4-5"
    assert mini.resolve("openai/gpt-5-1").id == "openai/gpt-5-1"
    assert mini.resolved["smart"] == "anthropic/claude-opus-4-5"
    assert set(mini.resolved) == set(mini.shortcuts)


def test_an_unknown_name_suggests_the_closest(mini: Directory) -> None:
    with pytest.raises(UnknownName) as caught:
        mini.resolve("smrt")
    assert caught.value.suggestions == ["smart"]
    assert "did you mean 'smart'?" in str(caught.value)
    with pytest.raises(UnknownName) as caught:
        mini.resolve("openai/gpt-5-l")
    assert caught.value.suggestions[0] == "openai/gpt-5-1"


def test_an_unknown_name_survives_pickling(mini: Directory) -> None:
    # Ray pickles exceptions between processes; the directory's errors rebuild without __init__.
    with pytest.raises(UnknownName) as caught:
        mini.resolve("smrt")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is UnknownName
    assert vars(copy) == vars(caught.value)
    assert str(copy) == str(caught.value)


def test_the_chain_is_model_backup_secondary(mini: Directory) -> None:
    chain = mini.chain("smart")
    assert [m.id for m in chain] == [
        "anthropic/claude-opus-4-5",
        "openai/gpt-5-1",
        "google/gemini-2-5-flash",
    ]
    assert mini.chain("anthropic/claude-opus-4-5") == chain
    chain.clear()  # a copy: the caller cannot damage the directory
    assert len(mini.chain("smart")) == 3


def test_provider_of_a_model(mini: Directory) -> None:
    assert mini.provider_of("openai/gpt-5-mini").adapter == "openai"
    assert mini.provider_of("private").privacy == "local"


def test_private_and_local_policies_keep_calls_local(mini: Directory) -> None:
    assert mini.local_only("private")
    assert not mini.local_only("smart")
    assert not mini.local_only("anthropic/claude-opus-4-5")
    assert all(m.privacy == "local" for m in mini.chain("private"))


def test_the_directory_crosses_a_process_boundary_as_plain_data(mini: Directory) -> None:
    data = json.loads(json.dumps(mini.to_dict()))  # what a user_config carries
    again = directory_from_dict(data)
    assert again.to_dict() == mini.to_dict()
    assert again.resolved == mini.resolved
    assert pickle.loads(pickle.dumps(mini)).resolved == mini.resolved


def test_a_broken_dict_is_refused_like_a_broken_file(mini: Directory) -> None:
    data = mini.to_dict()
    data["models"][0]["backup"] = data["models"][0]["id"]
    with pytest.raises(InvalidDirectory) as caught:
        directory_from_dict(data)
    assert [str(p) for p in caught.value.problems] == [
        "models.yaml: models[anthropic/claude-opus-4-5].backup: a model cannot be its own backup"
    ]
    with pytest.raises(InvalidDirectory):
        directory_from_dict({"models": []})


def test_profiles_are_frozen(mini: Directory) -> None:
    with pytest.raises(ValueError):
        mini.models["openai/gpt-5-1"].backup = "x/y"  # type: ignore[misc]
