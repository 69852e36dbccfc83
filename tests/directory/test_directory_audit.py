"""`directory.audit`: what it finds in the shipped directory and in copies broken one way each."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from directory.audit import Finding, audit, read_dates
from directory.loader import SHIPPED, load_directory
from tests.directory.helpers import MINI, Raw, read_raw, write_raw

# The day the shipped prices were read: the audit of the shipped data is pinned to it, so this
# suite does not change its verdict with the calendar (`make test` audits as of the real today).
READ_ON = date(2026, 12, 5)


def audited(raw: Raw, folder: Path, today: date = READ_ON) -> list[Finding]:
    return audit(load_directory(write_raw(folder, raw)), today)


def of(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def model(raw: Raw, model_id: str) -> dict[str, Any]:
    (entry,) = [m for m in raw["models"] if m["id"] == model_id]
    return entry


def test_the_shipped_directory_has_no_errors_on_the_day_it_was_read() -> None:
    findings = audit(load_directory(SHIPPED), READ_ON)
    assert [f for f in findings if f.severity == "error"] == []
    third_party = {f.where for f in of(findings, "third-party-price")}
    assert "models.yaml: mistral/mistral-small-4 pricing.source" in third_party
    assert "models.yaml: deepseek/deepseek-v4-pro pricing.source" not in third_party
    (smart,) = [f for f in of(findings, "low-confidence-pin") if f.where.endswith(": smart")]
    assert smart.severity == "warning" and "8 of 8" in smart.message


def test_a_source_read_more_than_60_days_ago_is_an_error(tmp_path: Path) -> None:
    raw = read_raw(SHIPPED)
    model(raw, "mistral/codestral")["pricing"]["source"] = "https://mistral.ai/, read 2026-09-01"
    (stale,) = of(audited(raw, tmp_path), "stale-source")
    assert stale.severity == "error"
    assert stale.where == "models.yaml: mistral/codestral pricing.source"
    assert "read 2026-09-01, 95 days ago" in stale.message


def test_the_whole_shipped_directory_goes_stale_60_days_after_its_oldest_reading() -> None:
    shipped = load_directory(SHIPPED)
    oldest = min(min(read_dates(m.pricing.source)) for m in shipped.models.values())
    assert of(audit(shipped, oldest + timedelta(days=60)), "stale-source") == []
    stale = of(audit(shipped, READ_ON + timedelta(days=61)), "stale-source")
    assert {f.where.split()[1] for f in stale} == set(shipped.models)


def test_the_oldest_reading_in_a_source_counts_and_other_dates_do_not() -> None:
    source = "effective 2020-01-01; page A read 2026-12-01, page B read 2026-10-01; set 2026-11-30"
    assert read_dates(source) == [date(2026, 12, 1), date(2026, 10, 1), date(2026, 11, 30)]


def test_a_source_with_no_reading_date_is_an_error(tmp_path: Path) -> None:
    raw = read_raw(MINI)
    (undated, *_) = of(audited(raw, tmp_path), "undated-source")  # the fixture says "fixture"
    assert undated.severity == "error" and "read YYYY-MM-DD" in undated.message


def test_a_third_party_only_price_is_a_warning(tmp_path: Path) -> None:
    raw = read_raw(SHIPPED)
    entry = model(raw, "anthropic/claude-opus-5")
    entry["pricing"]["source"] = "third-party: no vendor page, read 2026-12-05"
    flagged = {f.where for f in of(audited(raw, tmp_path), "third-party-price")}
    assert "models.yaml: anthropic/claude-opus-5 pricing.source" in flagged


def test_a_profile_promising_more_context_than_vllm_serves_is_an_error(tmp_path: Path) -> None:
    raw = read_raw(SHIPPED)
    model(raw, "local/qwen3-embedding-8b")["context_window"] = 32768  # serving gives 8192
    (mismatch,) = of(audited(raw, tmp_path), "context-mismatch")
    assert mismatch.severity == "error"
    assert mismatch.where == "models.yaml: local/qwen3-embedding-8b serving.max_model_len"
    assert "8192" in mismatch.message and "32768" in mismatch.message


def test_weak_scores_behind_a_pinned_shortcut_are_a_warning(tmp_path: Path) -> None:
    raw = read_raw(MINI)  # smart is pinned to anthropic/claude-opus-4-5, scores at 0.6
    assert of(audited(raw, tmp_path), "low-confidence-pin") == []
    model(raw, "anthropic/claude-opus-4-5")["scores"]["reasoning"]["confidence"] = 0.3
    (pin,) = of(audited(raw, tmp_path / "weak"), "low-confidence-pin")
    assert pin.where == "shortcuts.yaml: smart" and "1 of 8" in pin.message


@pytest.mark.parametrize(("days_ahead", "warnings"), [(7, 1), (14, 1), (15, 0), (0, 0), (-3, 0)])
def test_a_price_change_within_14_days_is_a_warning(
    tmp_path: Path, days_ahead: int, warnings: int
) -> None:
    raw = read_raw(SHIPPED)
    pricing = model(raw, "mistral/codestral")["pricing"]
    pricing["schedule"] = [
        {
            "effective_from": (READ_ON + timedelta(days=days_ahead)).isoformat(),
            "input": 0.6,
            "output": 1.8,
            "source": "https://mistral.ai/pricing, read 2026-12-05",
        }
    ]
    changes = of(audited(raw, tmp_path), "price-change-soon")
    assert len(changes) == warnings
    assert all(c.severity == "warning" and "mistral/codestral" in c.where for c in changes)


def test_the_shipped_gemini_flash_list_price_is_flagged_in_its_last_two_weeks() -> None:
    shipped = load_directory(SHIPPED)
    assert of(audit(shipped, date(2026, 12, 17)), "price-change-soon") == []
    (change,) = of(audit(shipped, date(2026, 12, 20)), "price-change-soon")
    assert change.where == "models.yaml: google/gemini-3.8-flash pricing.schedule"
    assert "2027-01-01" in change.message and "$1.50 in / $7.50 out" in change.message
