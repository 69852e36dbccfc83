"""What the directory raises: a directory with problems (every one at once), or a name it lacks.

    DirectoryError          base: rebuilds from its state when unpickled, so it crosses Ray
    ├── InvalidDirectory    the files (or a user_config dict) are invalid: every problem, each named
    └── UnknownName         neither a shortcut nor a model id; the closest names as suggestions

The directory is data: this package imports neither Ray nor `deployments`, so its errors are not
`SwitchyardError`s. The app maps them where it answers a caller: `serve_app/routing/plan.py` turns
`UnknownName` into the 404 `UnknownModel`, and the CLI prints either as one message.

A directory is fixed by reading one message, so the loader collects every problem it finds instead
of stopping at the first. pydantic's `ValidationError` cannot cross a process boundary; the loader
converts those into `Problem`s before they leave it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


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


def _rebuild(cls: type[DirectoryError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class DirectoryError(Exception):
    """Base of the directory's errors: `args` is the message, the fields are attributes."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__: the subclasses' __init__ take their fields, not the
        # message that Exception's default reduce would pass them.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class InvalidDirectory(DirectoryError):
    """The directory is invalid. `problems` lists everything found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"the directory has {count} problem{'s' * (count != 1)}:\n{lines}")


class UnknownName(DirectoryError):
    """`name` is neither a shortcut nor a model id; `suggestions` are the closest that are."""

    def __init__(self, name: str, *, suggestions: Iterable[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(map(repr, self.suggestions))}?" if suggestions else ""
        super().__init__(f"unknown model or shortcut {name!r}{hint}")
