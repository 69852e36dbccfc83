"""`switchyard`: the command line. A small dispatcher; each command group is its own module.

To add a command group, write `serve_app/commands/<name>_cmd.py` with `register(subparsers)` (it
adds its subparser and sets `handler`, see `serve_app/commands/__init__.py`) and list its
`register` in `COMMANDS`. Every command module is imported at start, so none may import Ray, the
SDKs or FastAPI at its top: import them inside the handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from deployments.errors import SwitchyardError
from directory.errors import DirectoryError
from serve_app.commands import (
    Subparsers,
    deploy_cmd,
    directory_cmd,
    keys_cmd,
    load_cmd,
    route_cmd,
    router_cmd,
    sandbox_cmd,
    scores_cmd,
    serve_cmd,
    spend_cmd,
    tune_cmd,
)

COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    directory_cmd.register,
    route_cmd.register,
    router_cmd.register,
    scores_cmd.register,
    serve_cmd.register,
    deploy_cmd.register,
    sandbox_cmd.register,
    spend_cmd.register,
    load_cmd.register,
    tune_cmd.register,
    keys_cmd.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchyard", description="An LLM routing gateway: name the job, not the model."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except (SwitchyardError, DirectoryError) as e:
        # An unknown name or a broken directory: a message for people, not a traceback.
        print(f"switchyard: {e}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
