"""The README's shortcut and model tables, generated from the directory so they cannot drift.

    python -m directory.readme_tables            print the tables
    python -m directory.readme_tables --check    exit 1 when README.md differs from the YAML
    python -m directory.readme_tables --write    rewrite the tables in README.md

The tables live between `<!-- BEGIN GENERATED: shortcuts -->` and `<!-- END GENERATED: shortcuts
-->` (and the same for `models`); everything outside the markers is left alone.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from directory.loader import load_directory
from directory.policy import GENERAL_SCORES, key_scores, tokens, usd
from directory.schema import Directory, ModelProfile, ScoreName

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = ("shortcuts", "models")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [_row(headers), _row(["---"] * len(headers)), *(_row(row) for row in rows)]


def _prices(model: ModelProfile) -> str:
    if model.privacy == "local":
        gpu = model.pricing.gpu_hour_usd
        return "local" + (f" (GPU {usd(gpu)}/h)" if gpu is not None else "")
    if model.free_tier is not None:
        return "free tier"
    if model.kind == "embedding":
        return f"{usd(model.pricing.input)}"
    return f"{usd(model.pricing.input)} / {usd(model.pricing.output)}"


def _scores(model: ModelProfile, names: Sequence[ScoreName]) -> str:
    if model.scores is None:
        return f"{model.embedding_dimensions} dims"
    scores = model.scores
    return " · ".join(f"{name} {scores.get(name).score:.0f}" for name in names)


def shortcuts_table(directory: Directory) -> str:
    rows = []
    for name, shortcut in directory.shortcuts.items():
        model = directory.models[directory.resolved[name]]
        how = shortcut.how()
        scores = _scores(model, key_scores(shortcut))
        rows.append(
            [f"`{name}`", f"`{model.id}`", how, _prices(model), scores, shortcut.description]
        )
    headers = ["Shortcut", "Model", "How", "USD/Mtok in / out", "Key scores", "For"]
    return "\n".join(_table(headers, rows))


def models_tables(directory: Directory) -> str:
    lines: list[str] = []
    headers = ["Model", "Kind", "Context", "USD/Mtok in / out", "Cached in"]
    headers += [name.replace("_", " ") for name in GENERAL_SCORES] + ["Backup, secondary"]
    for provider in directory.providers.values():
        models = [m for m in directory.models.values() if m.provider == provider.id]
        rows = []
        for m in models:
            cached = m.pricing.cached_input
            if m.scores is None:
                scores = [f"{m.embedding_dimensions} dims", "", ""]
            else:
                scores = [f"{m.scores.get(name).score:.0f}" for name in GENERAL_SCORES]
            kind = m.kind + (" (free tier)" if m.free_tier is not None else "")
            cached_cell = usd(cached) if cached is not None else "-"
            chain = f"`{m.backup}`, `{m.secondary}`"
            rows.append(
                [
                    f"`{m.id}`",
                    kind,
                    tokens(m.context_window),
                    _prices(m),
                    cached_cell,
                    *scores,
                    chain,
                ]
            )
        if lines:
            lines.append("")
        lines += [f"**{provider.display_name}** (`{provider.id}`, {provider.privacy})", ""]
        lines += _table(headers, rows)
    return "\n".join(lines)


def render(directory: Directory) -> dict[str, str]:
    return {"shortcuts": shortcuts_table(directory), "models": models_tables(directory)}


def update(text: str, blocks: Mapping[str, str]) -> str:
    """`text` with each generated block replaced; ValueError when a block's markers are missing."""
    for name, body in blocks.items():
        begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
        found = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.DOTALL)
        if found is None:
            raise ValueError(f"no {begin} … {end} markers")
        text = f"{text[: found.start()]}{begin}\n{body}\n{end}{text[found.end() :]}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m directory.readme_tables")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the tables in the README")
    mode.add_argument("--check", action="store_true", help="exit 1 when the README has drifted")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--directory", help="the directory folder (default: the shipped one)")
    args = parser.parse_args(argv)

    blocks = render(load_directory(args.directory))
    if not (args.write or args.check):
        print("\n\n".join(blocks.values()))
        return 0
    text = args.readme.read_text(encoding="utf-8")
    updated = update(text, blocks)
    if args.check:
        if updated != text:
            print(f"{args.readme} is out of date: run python -m directory.readme_tables --write")
            return 1
        return 0
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
