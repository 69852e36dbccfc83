"""Reads the router artifacts that `learned:` shortcuts name (see `directory/routers.py`).

Each is read once, when the directory loads, and kept inline in its shortcut, so that the
directory a replica receives (`Directory.to_dict()`) needs no file. A router that cannot be read
is a `Problem` naming shortcuts.yaml, the shortcut and `learned.router`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from directory.errors import Problem
from directory.routers import RouterArtifact
from directory.schema import Shortcut


def read_router(folder: Path, relative: str) -> RouterArtifact:
    """The artifact at `relative` inside `folder`; ValueError saying why it cannot be used."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{relative} is outside the directory's folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {relative}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{relative} is not JSON: {error}") from None
    try:
        return RouterArtifact.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(whole file)"
        raise ValueError(f"{relative}: {where}: {first['msg']}") from None


def with_router_artifacts(
    shortcuts: Sequence[Shortcut], folder: Path, file: str
) -> tuple[list[Shortcut], list[Problem]]:
    """The shortcuts with each learned one's artifact read in, and the routers that could not be."""
    done: list[Shortcut] = []
    problems: list[Problem] = []
    for shortcut in shortcuts:
        learned = shortcut.learned
        if learned is not None and learned.artifact is None:
            try:
                artifact = read_router(folder, learned.router)
            except ValueError as error:
                entry = f"shortcuts[{shortcut.name}]"
                problems.append(Problem(file, entry, "learned.router", str(error)))
            else:
                learned = learned.model_copy(update={"artifact": artifact})
                shortcut = shortcut.model_copy(update={"learned": learned})
        done.append(shortcut)
    return done, problems
