"""Broken copies of a directory: each problem names the file, the entry and the field.

Every test runs against the shipped directory and the small fixture, so the rules are proven on
the real data and keep working whatever the data holds.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from directory.errors import InvalidDirectory
from directory.loader import load_directory
from tests.directory.helpers import SOURCES, Raw, entry, first, problems_of, read_raw, write_raw


@pytest.fixture(params=list(SOURCES), ids=list(SOURCES))
def raw(request: pytest.FixtureRequest) -> Raw:
    return read_raw(SOURCES[request.param])


def test_the_unbroken_copy_loads(raw: Raw, tmp_path: Path) -> None:
    # Guards the other tests: each problem below comes from its own mutation, not the round trip.
    directory = load_directory(write_raw(tmp_path, raw))
    assert len(directory.models) == len(raw["models"])


def test_a_typo_in_a_backup_suggests_the_right_id(raw: Raw, tmp_path: Path) -> None:
    model = raw["models"][0]
    good = model["backup"]
    model["backup"] = good + "x"
    assert (
        f"models.yaml: models[{model['id']}].backup: unknown model '{good}x'; "
        f"did you mean '{good}'?"
    ) in problems_of(raw, tmp_path)


def test_a_model_cannot_be_its_own_backup(raw: Raw, tmp_path: Path) -> None:
    model = raw["models"][0]
    model["backup"] = model["id"]
    assert (
        f"models.yaml: models[{model['id']}].backup: a model cannot be its own backup"
        in problems_of(raw, tmp_path)
    )


def test_backup_and_secondary_must_differ(raw: Raw, tmp_path: Path) -> None:
    model = raw["models"][0]
    model["secondary"] = model["backup"]
    assert f"models.yaml: models[{model['id']}].secondary: must differ from backup" in problems_of(
        raw, tmp_path
    )


def test_a_score_of_140_is_out_of_range(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, kind="chat")
    model["scores"]["reasoning"]["score"] = 140
    problems = problems_of(raw, tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"models.yaml: models[{model['id']}].scores.reasoning.score: "
        "Input should be less than or equal to 100"
    )
    assert "140" in problems[0]


def test_a_confidence_above_one_is_out_of_range(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, kind="chat")
    model["scores"]["coding"]["confidence"] = 1.5
    [problem] = problems_of(raw, tmp_path)
    assert problem.startswith(f"models.yaml: models[{model['id']}].scores.coding.confidence: ")


def test_a_cloud_chat_model_priced_at_zero_is_an_error(raw: Raw, tmp_path: Path) -> None:
    # The bug this prevents: an unpriced model silently costing $0 in the ledger.
    model = first(raw, kind="chat", privacy="cloud", free_tier=None)
    model["pricing"]["output"] = 0
    [problem] = problems_of(raw, tmp_path)
    assert problem == (
        f"models.yaml: models[{model['id']}].pricing.output: a cloud chat model needs a price "
        "above 0 (or a free_tier); unpriced, it would silently cost $0"
    )


def test_a_cloud_chat_model_with_no_price_given_is_an_error(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, kind="chat", privacy="cloud", free_tier=None)
    del model["pricing"]["input"]
    assert problems_of(raw, tmp_path) == [
        f"models.yaml: models[{model['id']}].pricing.input: required field missing"
    ]


def test_a_negative_price_is_out_of_range(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, kind="chat", privacy="cloud")
    model["pricing"]["input"] = -1
    [problem] = problems_of(raw, tmp_path)
    assert problem.startswith(f"models.yaml: models[{model['id']}].pricing.input: ")


def test_a_private_shortcut_resolving_to_a_cloud_model_is_an_error(
    raw: Raw, tmp_path: Path
) -> None:
    cloud = first(raw, kind="chat", privacy="cloud")
    private = entry(raw, "shortcuts", "private")
    private.pop("select", None)
    private["model"] = cloud["id"]
    assert any(
        p.startswith(
            f"shortcuts.yaml: shortcuts[private].model: resolves to {cloud['id']}, a cloud"
        )
        for p in problems_of(raw, tmp_path)
    )


def test_a_private_chain_with_a_cloud_backup_is_an_error(raw: Raw, tmp_path: Path) -> None:
    # The pick itself is local, but failing over would send the prompt off the cluster.
    directory = load_directory(write_raw(tmp_path / "before", raw))
    pick = directory.resolve("private")
    cloud = first(raw, kind=pick.kind, privacy="cloud")
    entry(raw, "models", pick.id)["backup"] = cloud["id"]
    field = "model" if directory.shortcuts["private"].model else "select"
    assert (
        f"shortcuts.yaml: shortcuts[private].{field}: the backup of {pick.id}, {cloud['id']}, "
        "is a cloud model" in problems_of(raw, tmp_path / "after")
    )


def test_an_unknown_key_is_rejected_with_the_nearest_field(raw: Raw, tmp_path: Path) -> None:
    model = raw["models"][0]
    model["contxt_window"] = model.pop("context_window")
    problems = problems_of(raw, tmp_path)
    where = f"models.yaml: models[{model['id']}]"
    assert (
        f"{where}.contxt_window: unknown key 'contxt_window'; did you mean 'context_window'?"
        in problems
    )
    assert f"{where}.context_window: required field missing" in problems


def test_unknown_keys_are_rejected_in_nested_blocks_and_every_file(
    raw: Raw, tmp_path: Path
) -> None:
    raw["providers"][0]["timeouts"]["connect"] = 5
    raw["shortcuts"][0]["pinned"] = True
    problems = problems_of(raw, tmp_path)
    provider, shortcut = raw["providers"][0]["id"], raw["shortcuts"][0]["name"]
    assert any(
        p.startswith(f"providers.yaml: providers[{provider}].timeouts.connect: unknown key")
        for p in problems
    )
    assert any(
        p.startswith(f"shortcuts.yaml: shortcuts[{shortcut}].pinned: unknown key") for p in problems
    )


def test_an_unknown_provider_is_suggested(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, provider="openai")
    model["provider"] = "opena1"
    problems = problems_of(raw, tmp_path)
    assert (
        f"models.yaml: models[{model['id']}].provider: unknown provider 'opena1'; "
        "did you mean 'openai'?"
    ) in problems


def test_a_model_id_must_start_with_its_provider(raw: Raw, tmp_path: Path) -> None:
    model = first(raw, provider="openai")
    anthropic = first(raw, provider="anthropic")
    model["provider"] = "anthropic"
    model["privacy"] = anthropic["privacy"]
    problems = problems_of(raw, tmp_path)
    assert (
        f"models.yaml: models[{model['id']}].id: must start with its provider, 'anthropic/'"
        in problems
    )


def test_duplicate_ids_are_an_error(raw: Raw, tmp_path: Path) -> None:
    raw["models"].append(dict(raw["models"][0]))
    assert f"models.yaml: models[{raw['models'][0]['id']}].id: given twice" in problems_of(
        raw, tmp_path
    )


def test_a_shortcut_to_an_unknown_model_is_suggested(raw: Raw, tmp_path: Path) -> None:
    pinned = next(s for s in raw["shortcuts"] if "model" in s)
    good = pinned["model"]
    pinned["model"] = good[:-1] + "z" + good[-1]
    assert any(
        p.startswith(f"shortcuts.yaml: shortcuts[{pinned['name']}].model: unknown model")
        and f"did you mean '{good}'?" in p
        for p in problems_of(raw, tmp_path)
    )


def test_a_policy_no_model_meets_is_an_error(raw: Raw, tmp_path: Path) -> None:
    raw["shortcuts"].append(
        {"name": "impossible", "description": "x", "select": {"min_scores": {"coding": 100}}}
    )
    assert any(
        p.startswith("shortcuts.yaml: shortcuts[impossible].select: no model meets it")
        for p in problems_of(raw, tmp_path)
    )


def test_a_misspelt_feature_in_a_policy_is_suggested(raw: Raw, tmp_path: Path) -> None:
    raw["shortcuts"].append(
        {"name": "typo", "description": "x", "select": {"features": ["json_shema"]}}
    )
    assert any(
        p.startswith("shortcuts.yaml: shortcuts[typo].select.features[0]: unknown value")
        and "did you mean 'json_schema'?" in p
        for p in problems_of(raw, tmp_path)
    )


def test_every_problem_is_reported_at_once(raw: Raw, tmp_path: Path) -> None:
    one, other = raw["models"][0], next(m for m in raw["models"][1:] if m["kind"] == "chat")
    one["backup"] = one["id"]
    other["scores"]["coding"]["score"] = 140
    raw["providers"][0]["unknown"] = 1
    problems = problems_of(raw, tmp_path)
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == ["providers.yaml", "models.yaml", "models.yaml"]


def test_a_key_given_twice_in_yaml_is_an_error(raw: Raw, tmp_path: Path) -> None:
    # PyYAML would silently keep the second value.
    folder = write_raw(tmp_path, raw)
    text = (folder / "models.yaml").read_text()
    (folder / "models.yaml").write_text(text.replace("  backup:", "  backup: x/y\n  backup:", 1))
    with pytest.raises(InvalidDirectory) as caught:
        load_directory(folder)
    assert "models.yaml: not valid YAML: " in str(caught.value.problems[0])
    assert "'backup' given twice" in str(caught.value.problems[0])


def test_the_error_survives_pickling(raw: Raw, tmp_path: Path) -> None:
    # Ray pickles exceptions between processes.
    raw["models"][0]["backup"] = raw["models"][0]["id"]
    with pytest.raises(InvalidDirectory) as caught:
        load_directory(write_raw(tmp_path, raw))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is InvalidDirectory
    assert copy.problems == caught.value.problems
    assert str(copy) == str(caught.value)
