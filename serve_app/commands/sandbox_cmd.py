"""`switchyard sandbox`: serve the sandbox providers in the foreground (deployments/sandbox)."""

from __future__ import annotations

import argparse

from serve_app.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    # The sandbox server is light (Starlette, uvicorn): importing its options here is cheap.
    from deployments.sandbox.server import SANDBOX_DESCRIPTION, add_sandbox_arguments

    sandbox = subparsers.add_parser(
        "sandbox",
        help="serve the SANDBOX providers (OpenAI, Anthropic, Gemini wire protocols) on loopback",
        description=SANDBOX_DESCRIPTION,
    )
    add_sandbox_arguments(sandbox)
    sandbox.set_defaults(handler=_sandbox)


def _sandbox(args: argparse.Namespace) -> int:
    from deployments.sandbox.server import run_sandbox_command

    return run_sandbox_command(args)
