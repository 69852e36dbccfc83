"""`switchyard deploy`: validate a directory and deploy it to a running cluster (hot reload)."""

from __future__ import annotations

import argparse
import json
import sys

from serve_app.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="validate the directory and `serve deploy` Switchyard with it (re-points shortcuts "
        "in running replicas with no restart)",
    )
    deploy.add_argument("--directory", default=None, help="a directory folder (default: shipped)")
    deploy.add_argument(
        "--address", default="http://127.0.0.1:8265", help="the Ray dashboard of the cluster"
    )
    deploy.add_argument(
        "--args",
        default="{}",
        help="the app builder's arguments as JSON (see serve_app.app.builder.AppArgs)",
    )
    deploy.add_argument("--port", type=int, default=8000, help="HTTP port of Serve's proxy")
    deploy.add_argument(
        "--print", action="store_true", help="print the Serve config instead of deploying it"
    )
    deploy.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from directory.loader import load_directory
    from serve_app.app.builder import AppArgs
    from serve_app.app.deploy import deploy, serve_config

    directory = load_directory(args.directory)  # DirectoryError: printed by main(), exit 1
    app_args = AppArgs.model_validate({**json.loads(args.args), "directory_path": args.directory})
    config = serve_config(app_args, directory, http_port=args.port)
    if args.print:
        json.dump(config, sys.stdout, indent=2)
        print()
        return 0
    deploy(config, args.address)
    print(f"deployed {directory!r} to {args.address}")
    return 0
