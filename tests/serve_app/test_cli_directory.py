"""`switchyard directory …` and `switchyard route …`, run as a user runs them: a new process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.directory.helpers import MINI, read_raw, write_raw


def switchyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serve_app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def chain_rows(output: str) -> list[list[str]]:
    """The rows of the chain table `route` prints, split into cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  ROLE"))
    return [line.split() for line in lines[start + 1 : start + 4]]


def test_check_passes_on_the_shipped_directory() -> None:
    result = switchyard("directory", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 7 providers, 53 models, 25 shortcuts" in result.stdout


def test_check_lists_every_problem_of_a_broken_directory(tmp_path: Path) -> None:
    raw = read_raw(MINI)
    raw["models"][0]["backup"] = "openai/gpt-5-1x"
    raw["models"][1]["scores"]["reasoning"]["score"] = 140
    result = switchyard("directory", "check", str(write_raw(tmp_path, raw)))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        "models.yaml: models[anthropic/claude-opus-4-5].backup: unknown model 'openai/gpt-5-1x'; "
        "did you mean 'openai/gpt-5-1'?"
    ) in lines
    assert any(
        line.startswith("models.yaml: models[anthropic/claude-haiku-4-5].scores.reasoning.score:")
        for line in lines
    )
    assert lines[-1].startswith("2 problem(s) in ")


def test_models_lists_every_model_with_prices() -> None:
    result = switchyard("directory", "models", "--directory", str(MINI))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["MODEL", "PROVIDER", "KIND", "CONTEXT", "$IN/M", "$OUT/M"]
    assert len(lines) == 1 + 12
    assert lines[1].split()[:9] == [
        "anthropic/claude-opus-4-5", "anthropic", "chat", "200K", "5", "25", "87", "81", "88"
    ]  # fmt: skip


def test_shortcuts_lists_targets_and_how_they_were_chosen() -> None:
    result = switchyard("directory", "shortcuts", "--directory", str(MINI))
    assert result.returncode == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["smart"].split()[1:3] == ["anthropic/claude-opus-4-5", "pinned"]
    assert rows["extract"].split()[1:4] == ["openai/gpt-5-1", "policy:", "cheapest"]


def test_show_prints_the_whole_profile() -> None:
    result = switchyard("directory", "show", "openai/gpt-5-1", "--directory", str(MINI))
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("openai/gpt-5-1\n")
    assert "$1.25 in / $10.00 out per Mtok" in out
    assert "backup                 anthropic/claude-opus-4-5" in out
    assert "reasoning              88  (confidence 0.6, adjusted 72.8)" in out
    assert "shortcuts              extract" in out


@pytest.mark.parametrize("directory", [None, str(MINI)], ids=["shipped", "mini"])
def test_route_smart_private_embed_print_their_chains(directory: str | None) -> None:
    extra = [] if directory is None else ["--directory", directory]
    smart = switchyard("route", "smart", *extra)
    assert smart.returncode == 0, smart.stderr
    assert smart.stdout.startswith("smart → ")
    assert [row[1] for row in chain_rows(smart.stdout)] == ["model", "backup", "secondary"]

    private = switchyard("route", "private", *extra)
    assert private.returncode == 0, private.stderr
    assert [row[4] for row in chain_rows(private.stdout)] == ["local"] * 3

    embed = switchyard("route", "embed", *extra)
    assert embed.returncode == 0, embed.stderr
    assert all("dims" in " ".join(row) for row in chain_rows(embed.stdout))


def test_route_explains_a_policy_and_names_the_runner_up_with_its_price() -> None:
    result = switchyard("route", "extract", "--directory", str(MINI))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("extract → openai/gpt-5-1  (policy)")
    assert lines[1].startswith("  why: cheapest of 2 qualifying out of 8")
    assert lines[2] == (
        "  runner-up: anthropic/claude-opus-4-5, $5.00 in / $25.00 out per Mtok (blended $10.00)"
    )
    assert chain_rows(result.stdout)[0][2] == "openai/gpt-5-1"


def test_an_unknown_name_exits_1_with_did_you_mean() -> None:
    result = switchyard("route", "smrt", "--directory", str(MINI))
    assert result.returncode == 1
    assert "unknown model or shortcut 'smrt'; did you mean 'smart'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_directory_commands_do_not_import_ray() -> None:
    # `switchyard directory …` must stay fast: Ray is imported only by commands that need it.
    code = (
        "import sys\n"
        "from serve_app.cli import main\n"
        f"for args in (['directory', 'models'], ['route', 'smart']):\n"
        f"    assert main([*args, '--directory', {str(MINI)!r}]) == 0\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
