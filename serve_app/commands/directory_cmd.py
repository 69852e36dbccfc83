"""`switchyard directory check|models|shortcuts|show|audit`: look at the model directory."""

from __future__ import annotations

import argparse
from datetime import date

from directory.audit import audit
from directory.errors import InvalidDirectory
from directory.loader import SHIPPED, load_directory
from directory.policy import GENERAL_SCORES, price_words, tokens, usd
from directory.schema import SCORE_NAMES, Directory, ModelProfile, Serving
from serve_app.commands import Subparsers
from serve_app.commands._table import (
    SCORE_HEADERS,
    add_directory_option,
    directory_from_args,
    price_cells,
    score_cells,
    table,
)


def register(subparsers: Subparsers) -> None:
    group = subparsers.add_parser("directory", help="check and browse the model directory")
    commands = group.add_subparsers(dest="directory_command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate a directory; exit 1 listing every problem")
    check.add_argument(
        "path", nargs="?", help="folder with the three YAML files (default: shipped)"
    )
    check.set_defaults(handler=_check)

    for name, handler, text in (
        ("models", _models, "every model: provider, kind, context, prices, key scores"),
        ("shortcuts", _shortcuts, "every shortcut and the model it resolves to"),
    ):
        sub = commands.add_parser(name, help=text)
        add_directory_option(sub)
        sub.set_defaults(handler=handler)

    audit_cmd = commands.add_parser(
        "audit",
        help="is the evidence still good: stale or third-party prices, price changes soon, "
        "weak scores behind pins, serving vs profile; exit 1 on errors",
    )
    add_directory_option(audit_cmd)
    audit_cmd.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="audit as of this day (default: today)",
    )
    audit_cmd.add_argument("--errors-only", action="store_true", help="leave warnings out")
    audit_cmd.set_defaults(handler=_audit)

    show = commands.add_parser("show", help="one model's whole profile")
    show.add_argument("id", help="a model id (or a shortcut)")
    add_directory_option(show)
    show.set_defaults(handler=_show)


def _check(args: argparse.Namespace) -> int:
    where = args.path or str(SHIPPED)
    try:
        directory = load_directory(args.path)
    except InvalidDirectory as e:
        for problem in e.problems:
            print(problem)
        print(f"{len(e.problems)} problem(s) in {where}")
        return 1
    print(
        f"ok: {len(directory.providers)} providers, {len(directory.models)} models, "
        f"{len(directory.shortcuts)} shortcuts in {where}"
    )
    return 0


def _audit(args: argparse.Namespace) -> int:
    today = args.today or date.today()
    findings = audit(directory_from_args(args), today)
    errors = sum(f.severity == "error" for f in findings)
    for finding in findings:
        if finding.severity == "error" or not args.errors_only:
            print(finding)
    where = args.directory or str(SHIPPED)
    print(f"{errors} error(s), {len(findings) - errors} warning(s) in {where} as of {today}")
    return 1 if errors else 0


def note(model: ModelProfile) -> str:
    """What a price column alone would hide: local GPU cost, free tier, embedding size."""
    notes = []
    if model.embedding_dimensions is not None:
        notes.append(f"{model.embedding_dimensions} dims")
    if model.privacy == "local" and model.pricing.gpu_hour_usd is not None:
        notes.append(f"local, GPU {usd(model.pricing.gpu_hour_usd)}/h")
    if model.free_tier is not None:
        notes.append(f"free tier of {model.free_tier.paid_twin}")
    return "; ".join(notes)


def _models(args: argparse.Namespace) -> int:
    directory = directory_from_args(args)
    headers = ["MODEL", "PROVIDER", "KIND", "CONTEXT", "$IN/M", "$OUT/M"]
    headers += [SCORE_HEADERS[name] for name in GENERAL_SCORES] + ["NOTE"]

    def scores(m: ModelProfile) -> list[str]:
        return score_cells(m, GENERAL_SCORES)

    rows = [
        [m.id, m.provider, m.kind, tokens(m.context_window), *price_cells(m), *scores(m), note(m)]
        for m in directory.models.values()
    ]
    print(table(headers, rows, right=range(3, 9)))
    return 0


def _shortcuts(args: argparse.Namespace) -> int:
    directory = directory_from_args(args)
    rows = []
    for name, shortcut in directory.shortcuts.items():
        model = directory.models[directory.resolved[name]]
        how = shortcut.how()
        rows.append([name, model.id, how, *price_cells(model), shortcut.description])
    print(table(["SHORTCUT", "MODEL", "HOW", "$IN/M", "$OUT/M", "DESCRIPTION"], rows, right={3, 4}))
    return 0


def _show(args: argparse.Namespace) -> int:
    directory = directory_from_args(args)
    print(profile(directory, directory.resolve(args.id)))
    return 0


def profile(directory: Directory, m: ModelProfile) -> str:
    """One model's whole profile as labelled lines."""
    provider = directory.providers[m.provider]
    lines: list[tuple[str, str]] = [
        ("provider", f"{provider.display_name} ({m.provider}, {provider.adapter} adapter)"),
        ("provider model", m.provider_model),
        ("kind", f"{m.kind}, {m.privacy}"),
        ("context", _size(m)),
        (
            "modalities",
            f"in: {', '.join(m.modalities.input)}; out: {', '.join(m.modalities.output)}",
        ),
        ("features", ", ".join(k for k, on in m.features.model_dump().items() if on) or "none"),
        ("pricing", _pricing(m)),
        ("price source", m.pricing.source),
        ("latency", _latency(m)),
        ("backup", m.backup),
        ("secondary", m.secondary),
    ]
    if m.free_tier is not None:
        ft = m.free_tier
        limits = [f"{n} {unit}/day" for n, unit in _free_limits(m) if n]
        lines.append(("free tier", f"{', '.join(limits)}; resets {ft.reset}"))
    for label, items in (("strengths", m.strengths), ("weaknesses", m.weaknesses)):
        lines += [(label if i == 0 else "", item) for i, item in enumerate(items)]
    if m.scores is not None:
        for name in SCORE_NAMES:
            s = m.scores.get(name)
            adjusted = f"confidence {s.confidence:.1f}, adjusted {s.adjusted():.1f}"
            lines.append((name, f"{s.score:.0f}  ({adjusted})  {s.source}"))
    if m.serving is not None:
        lines.append(("serving", _serving(m.serving)))
    shortcuts = sorted(name for name, target in directory.resolved.items() if target == m.id)
    lines.append(("shortcuts", ", ".join(shortcuts) or "none"))
    width = max(len(label) for label, _ in lines)
    return "\n".join([m.id, *(f"  {label.ljust(width)}  {text}" for label, text in lines)])


def _size(m: ModelProfile) -> str:
    size = f"{tokens(m.context_window)} tokens"
    if m.max_output_tokens is not None:
        size += f", max output {tokens(m.max_output_tokens)}"
    if m.embedding_dimensions is not None:
        size += f", {m.embedding_dimensions} dimensions"
    return size


def _pricing(m: ModelProfile) -> str:
    p = m.pricing
    parts = [price_words(m)]
    cache = (("cached input", p.cached_input), ("cache write", p.cache_write))
    parts += [
        f"{label} {usd(v)}"
        for label, v in (*cache, ("1h cache write", p.cache_write_1h))
        if v is not None
    ]
    if p.long_context is not None:
        lc = p.long_context
        parts.append(
            f"above {tokens(lc.threshold_tokens)}: {usd(lc.input)} in / {usd(lc.output)} out"
        )
    return "; ".join(parts)


def _latency(m: ModelProfile) -> str:
    speed = m.latency.output_tokens_per_s
    rate = f", {speed:.0f} tok/s" if speed is not None else ""
    return f"TTFT {m.latency.ttft_ms:.0f} ms{rate} ({m.latency.source})"


def _free_limits(m: ModelProfile) -> tuple[tuple[int | None, str], ...]:
    ft = m.free_tier
    return () if ft is None else ((ft.requests_per_day, "requests"), (ft.tokens_per_day, "tokens"))


def _serving(sv: Serving) -> str:
    scaling = sv.autoscaling
    gpus = f"{sv.num_gpus:g} {sv.accelerator_type or ''} GPU per shard".replace("  ", " ")
    return (
        f"{sv.weights}: {gpus} x tensor parallel {sv.tensor_parallel_size}, max_model_len "
        f"{sv.max_model_len}, replicas {scaling.min_replicas}-{scaling.max_replicas}"
    )
