"""`switchyard sandbox`: serve the sandbox providers in the foreground (deployments/sandbox)."""

from __future__ import annotations

import argparse

from serve_app.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    sandbox = subparsers.add_parser(
        "sandbox",
        help="serve the SANDBOX providers (OpenAI, Anthropic, Gemini wire protocols) on loopback",
        add_help=False,  # the sandbox's own parser answers --help
    )
    sandbox.add_argument("rest", nargs=argparse.REMAINDER)
    sandbox.set_defaults(handler=_sandbox)


def _sandbox(args: argparse.Namespace) -> int:
    from deployments.sandbox.server import main_sandbox

    return main_sandbox(args.rest)
