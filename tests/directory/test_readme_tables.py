"""The README's shortcut and model tables are generated from the YAML and must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.loader import load_directory
from directory.readme_tables import README, main, render, update
from tests.directory.helpers import MINI


def test_the_readme_matches_the_directory() -> None:
    text = README.read_text(encoding="utf-8")
    assert update(text, render(load_directory())) == text, (
        "README.md is out of date: run `python -m directory.readme_tables --write`"
    )


def test_update_replaces_only_between_the_markers() -> None:
    text = (
        "intro\n<!-- BEGIN GENERATED: shortcuts -->\nold\n<!-- END GENERATED: shortcuts -->\n"
        "middle\n<!-- BEGIN GENERATED: models -->\n<!-- END GENERATED: models -->\nend\n"
    )
    blocks = render(load_directory(MINI))
    updated = update(text, blocks)
    assert updated.startswith("intro\n<!-- BEGIN GENERATED: shortcuts -->\n| Shortcut |")
    assert "old" not in updated
    assert "\nmiddle\n" in updated and updated.endswith("<!-- END GENERATED: models -->\nend\n")
    assert update(updated, blocks) == updated


def test_the_tables_show_each_shortcuts_model_and_price() -> None:
    shortcuts = render(load_directory(MINI))["shortcuts"]
    assert (
        "| `extract` | `openai/gpt-5-1` | policy: cheapest | $1.25 / $10.00 | "
        "extraction 85 · instruction_following 88 · reasoning 88 |"
    ) in shortcuts
    assert "| `embed` | `openai/text-embedding-3-small` | pinned | $0.02 | 1536 dims |" in shortcuts


def test_missing_markers_are_an_error_not_a_silent_append() -> None:
    with pytest.raises(ValueError, match="BEGIN GENERATED: shortcuts"):
        update("no markers here", {"shortcuts": "x"})


def test_check_mode_fails_on_a_drifted_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- BEGIN GENERATED: shortcuts -->\n<!-- END GENERATED: shortcuts -->\n"
        "<!-- BEGIN GENERATED: models -->\n<!-- END GENERATED: models -->\n"
    )
    args = ["--readme", str(readme), "--directory", str(MINI)]
    assert main([*args, "--check"]) == 1
    assert main([*args, "--write"]) == 0
    assert main([*args, "--check"]) == 0
