"""Copies of a directory to break on purpose, and the problems loading them reports."""

from __future__ import annotations

import copy
import functools
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from directory.errors import InvalidDirectory
from directory.loader import SECTIONS, SHIPPED, load_directory

MINI = Path(__file__).parent / "fixtures" / "mini"
# The shipped directory and a small fixture: every broken-copy test runs against both.
SOURCES = {"shipped": SHIPPED, "mini": MINI}

Raw = dict[str, list[dict[str, Any]]]


def read_raw(folder: Path) -> Raw:
    """The three files' entries, a fresh copy each call (tests mutate it)."""
    return copy.deepcopy(_parsed(folder))


@functools.cache
def _parsed(folder: Path) -> Raw:
    return {
        section: yaml.load((folder / f"{section}.yaml").read_text(), Loader=yaml.CSafeLoader)[
            section
        ]
        for section in SECTIONS
    }


def write_raw(folder: Path, raw: Raw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for section in SECTIONS:
        data = {section: raw[section]}
        text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
        (folder / f"{section}.yaml").write_text(text)
    return folder


def copy_directory(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for section in SECTIONS:
        shutil.copy(source / f"{section}.yaml", target / f"{section}.yaml")
    return target


def problems_of(raw: Raw, folder: Path) -> list[str]:
    """The problems (as printed) of `raw` written to `folder`; fails if it loads."""
    with pytest.raises(InvalidDirectory) as caught:
        load_directory(write_raw(folder, raw))
    return [str(problem) for problem in caught.value.problems]


def entry(raw: Raw, section: str, key: str) -> dict[str, Any]:
    id_key = "name" if section == "shortcuts" else "id"
    return next(item for item in raw[section] if item[id_key] == key)


def first(raw: Raw, **wanted: Any) -> dict[str, Any]:
    """The first model whose fields equal `wanted` (`free_tier=None` matches an absent key)."""
    return next(
        m for m in raw["models"] if all(m.get(key) == value for key, value in wanted.items())
    )
