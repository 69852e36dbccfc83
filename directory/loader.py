"""Reads and validates the directory: three YAML files, or the same data as plain dicts.

    load_directory(path)            the three YAML files in a folder (None: the shipped directory)
    directory_from_dicts(p, m, s)   lists of entries, e.g. built in a test
    directory_from_dict(d)          what `Directory.to_dict()` produced (a deployment's user_config)

Every path validates everything and raises one `InvalidDirectory` listing every problem; pydantic's
`ValidationError` never leaves this module (it does not survive Ray's pickling).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from directory.checks import check_models, check_providers, check_shortcuts, duplicates, unknown
from directory.errors import InvalidDirectory, Problem
from directory.router_files import with_router_artifacts
from directory.schema import Directory, ModelProfile, Provider, Shortcut

SHIPPED = Path(__file__).resolve().parent
# The section key of each file, and the file it is read from (named in every problem).
SECTIONS = ("providers", "models", "shortcuts")
SOURCE_NAMES: Mapping[str, str] = {section: f"{section}.yaml" for section in SECTIONS}
_ID_KEY = {"providers": "id", "models": "id", "shortcuts": "name"}

_Entry = TypeVar("_Entry", bound=BaseModel)


class _StrictLoader(yaml.CSafeLoader):
    """A YAML loader that rejects a key given twice (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def _read_file(path: Path, section: str) -> tuple[list[Any], list[Problem]]:
    """The entries of one YAML file, or the problems that kept it from being read."""
    name = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except OSError as e:
        return [], [Problem(name, "", "", f"cannot read {path}: {e.strerror}")]
    except yaml.YAMLError as e:
        return [], [Problem(name, "", "", f"not valid YAML: {e}".replace("\n", " "))]
    if not isinstance(data, dict) or set(data) != {section}:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        return [], [Problem(name, "", "", f"must hold one key, {section}: (found {keys})")]
    entries = data[section]
    if not isinstance(entries, list):
        return [], [Problem(name, section, "", "must be a list of entries")]
    return entries, []


def _fields_at(cls: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The field names of the model nested at `path` in `cls` (to suggest a misspelt key)."""
    for part in path:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part)
        if field is None:
            return []
        nested = [a for a in (field.annotation, *get_args(field.annotation)) if _is_model(a)]
        if not nested:
            return []
        cls = nested[0]
    return list(cls.model_fields)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _message(error: Any, cls: type[BaseModel]) -> str:
    """pydantic's message for one error, in the directory's words."""
    loc, kind = error["loc"], error["type"]
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(cls, loc[:-1])
        close = unknown("key", str(loc[-1]), allowed)
        return close if "did you mean" in close else f"{close} (allowed: {', '.join(allowed)})"
    text = f"{error['msg']} (got {error['input']!r})"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return unknown("value", str(error["input"]), allowed) + f" (allowed: {', '.join(allowed)})"
    return text


def _field(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
        elif part != "[key]":  # pydantic marks a bad dict key this way; the key is already named
            parts.append(part)
    return ".".join(parts)


def _validate(
    cls: type[_Entry], section: str, raw: Sequence[Any], file: str
) -> tuple[list[_Entry], list[str], list[Problem]]:
    """The valid entries, the ids of all entries (valid or not), and the problems."""
    entries: list[_Entry] = []
    ids: list[str] = []
    problems: list[Problem] = []
    for index, item in enumerate(raw, start=1):
        key = item.get(_ID_KEY[section]) if isinstance(item, Mapping) else None
        entry = f"{section}[{key}]" if isinstance(key, str) else f"{section}[#{index}]"
        if isinstance(key, str):
            ids.append(key)
        if not isinstance(item, Mapping):
            problems.append(Problem(file, entry, "", "must be a mapping"))
            continue
        try:
            entries.append(cls.model_validate(dict(item)))
        except ValidationError as e:
            problems += [
                Problem(file, entry, _field(err["loc"]), _message(err, cls))
                for err in e.errors(include_url=False)
            ]
    for dup in sorted(duplicates(ids)):
        problems.append(Problem(file, f"{section}[{dup}]", _ID_KEY[section], "given twice"))
    return entries, ids, problems


def _build(
    raw: Mapping[str, Sequence[Any]],
    problems: list[Problem],
    names: Mapping[str, str],
    now: datetime | None,
    folder: Path,
) -> Directory:
    providers, provider_ids, found = _validate(
        Provider, "providers", raw["providers"], names["providers"]
    )
    problems += found
    models, model_ids, found = _validate(ModelProfile, "models", raw["models"], names["models"])
    problems += found
    shortcuts, _, found = _validate(Shortcut, "shortcuts", raw["shortcuts"], names["shortcuts"])
    problems += found
    shortcuts, found = with_router_artifacts(shortcuts, folder, names["shortcuts"])
    problems += found

    provider_map = {p.id: p for p in providers}
    model_map = {m.id: m for m in models}
    problems += check_providers(providers, names["providers"])
    problems += check_models(models, provider_map, model_ids, provider_ids, names["models"])
    # Policies rank by today's prices (directory/pricing.py); `now` is injectable for tests.
    today = now or datetime.now(UTC)
    found, selections = check_shortcuts(shortcuts, model_map, model_ids, names["shortcuts"], today)
    problems += found
    if problems:
        raise InvalidDirectory(problems)
    return Directory(
        providers=provider_map,
        models=model_map,
        shortcuts={s.name: s for s in shortcuts},
        selections=selections,
    )


def load_directory(path: str | Path | None = None, *, now: datetime | None = None) -> Directory:
    """The directory in `path` (a folder with the three YAML files); None: the shipped one.
    Policy shortcuts are resolved at the prices in force at `now` (None: the clock's now)."""
    folder = SHIPPED if path is None else Path(path)
    raw: dict[str, Sequence[Any]] = {}
    problems: list[Problem] = []
    for section in SECTIONS:
        raw[section], found = _read_file(folder / SOURCE_NAMES[section], section)
        problems += found
    return _build(raw, problems, SOURCE_NAMES, now, folder)


def directory_from_dicts(
    providers: Sequence[Mapping[str, Any]],
    models: Sequence[Mapping[str, Any]],
    shortcuts: Sequence[Mapping[str, Any]],
    *,
    source_names: Mapping[str, str] = SOURCE_NAMES,
    now: datetime | None = None,
    folder: Path = SHIPPED,
) -> Directory:
    """A directory from lists of entries; problems name the files in `source_names`. A learned
    shortcut's router file is read from `folder` unless its artifact is given inline."""
    names = {**SOURCE_NAMES, **source_names}
    raw = {"providers": providers, "models": models, "shortcuts": shortcuts}
    problems = [
        Problem(names[section], section, "", "must be a list of entries")
        for section, entries in raw.items()
        if not isinstance(entries, Sequence) or isinstance(entries, str)
    ]
    if problems:
        raise InvalidDirectory(problems)
    return _build(raw, [], names, now, folder)


def directory_from_dict(data: Mapping[str, Any], *, now: datetime | None = None) -> Directory:
    """The inverse of `Directory.to_dict()`; validates again, as a new process must."""
    if not isinstance(data, Mapping) or set(data) != set(SECTIONS):
        found = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise InvalidDirectory(
            [Problem("directory", "", "", f"needs exactly {', '.join(SECTIONS)} (got {found})")]
        )
    return directory_from_dicts(data["providers"], data["models"], data["shortcuts"], now=now)
