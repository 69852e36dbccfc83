"""What the directory loader raises: every problem at once, each naming file, entry and field.

A directory is fixed by reading one message, so the loader collects every problem it finds instead
of stopping at the first. `DirectoryError` is a `SwitchyardError`, which gives it the `__reduce__`
that lets it cross Ray's process boundaries (pydantic's `ValidationError` cannot; the loader
converts those into `Problem`s before they leave it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deployments.errors import SwitchyardError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the directory, e.g. `models.yaml: models[a/b].backup: unknown …`."""

    file: str  # "models.yaml"
    entry: str  # "models[openai/gpt-5]", or "" for the file as a whole
    field: str  # "backup", "scores.reasoning.score", or "" for the entry as a whole
    message: str

    def __str__(self) -> str:
        where = ".".join(part for part in (self.entry, self.field) if part)
        return f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"


class DirectoryError(SwitchyardError):
    """The directory is invalid. `problems` lists everything found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"the directory has {count} problem{'s' * (count != 1)}:\n{lines}")
