"""`switchyard directory audit`, run as a user runs it: exit 0 with warnings, 1 on an error."""

from __future__ import annotations

from pathlib import Path

from directory.loader import SHIPPED
from tests.directory.helpers import read_raw, write_raw
from tests.serve_app.test_cli_directory import switchyard


def test_audit_passes_the_shipped_directory_on_the_day_it_was_read() -> None:
    result = switchyard("directory", "audit", "--today", "2026-12-05")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: shortcuts.yaml: smart: pinned to anthropic/claude-fable-5-2" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 error(s), ")


def test_audit_exits_1_naming_a_stale_source_and_a_context_contradiction(tmp_path: Path) -> None:
    raw = read_raw(SHIPPED)
    for entry in raw["models"]:
        if entry["id"] == "mistral/codestral":
            entry["pricing"]["source"] = "https://mistral.ai/pricing, read 2026-08-01"
        if entry["id"] == "local/qwen3-embedding-8b":
            entry["context_window"] = 32768
    folder = write_raw(tmp_path / "copy", raw)
    result = switchyard(
        "directory", "audit", "--directory", str(folder), "--today", "2026-12-05", "--errors-only"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "error: models.yaml: mistral/codestral pricing.source: read 2026-08-01"
    )
    assert lines[1].startswith("error: models.yaml: local/qwen3-embedding-8b serving.max_model_len")
    assert not any(line.startswith("warning:") for line in lines)
    assert lines[-1].startswith("2 error(s), ")


def test_audit_refuses_a_malformed_day() -> None:
    result = switchyard("directory", "audit", "--today", "5 Dec")
    assert result.returncode == 2 and "--today" in result.stderr
