"""`switchyard deploy`: validate a directory and deploy it to a running cluster (hot reload)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from serve_app.commands import Subparsers

if TYPE_CHECKING:  # imported in the handler: the CLI starts without Ray
    from directory.schema import Directory
    from serve_app.app.builder import AppArgs
from serve_app.commands.serve_cmd import add_auth_flag


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
    add_auth_flag(deploy)
    deploy.add_argument(
        "--print", action="store_true", help="print the Serve config instead of deploying it"
    )
    deploy.add_argument(
        "--kuberay",
        action="store_true",
        help="print a KubeRay RayService manifest (YAML: the ledger's volume claim, then the "
        "RayService whose serveConfigV2 is the config --print gives) instead of deploying",
    )
    deploy.add_argument(
        "--image",
        default=None,
        help="with --kuberay: the image head and workers run (built from kubernetes/Dockerfile)",
    )
    deploy.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from directory.loader import load_directory
    from serve_app.app.builder import AdminKeyMissing, AppArgs, with_admin_key
    from serve_app.app.deploy import deploy, serve_config

    directory = load_directory(args.directory)  # DirectoryError: printed by main(), exit 1
    given = {**json.loads(args.args), "directory_path": args.directory}
    if args.no_auth:
        given["auth"] = False
    app_args = AppArgs.model_validate(given)
    if args.kuberay:
        return _print_kuberay(app_args, directory, args.image)
    try:
        # The admin key's hash, from SWITCHYARD_ADMIN_KEY here; a printed config may leave it to
        # the environment of the cluster that builds it.
        app_args = with_admin_key(app_args)
    except AdminKeyMissing as error:
        if not args.print:
            print(f"switchyard: {error}", file=sys.stderr)
            return 1
    config = serve_config(app_args, directory, http_port=args.port)
    if args.print:
        json.dump(config, sys.stdout, indent=2)
        print()
        return 0
    deploy(config, args.address)
    print(f"deployed {directory!r} to {args.address}")
    return 0


def _print_kuberay(app_args: AppArgs, directory: Directory, image: str | None) -> int:
    from serve_app.app.kuberay import DEFAULT_IMAGE, rayservice, rayservice_yaml

    # No admin key hash here even when SWITCHYARD_ADMIN_KEY is set: on Kubernetes the head reads
    # the key from the Secret the manifest names, and the manifest stays free of key material.
    documents = rayservice(app_args, directory, image=image or DEFAULT_IMAGE)
    sys.stdout.write(rayservice_yaml(documents))
    return 0
