"""`switchyard serve` (real providers) and `switchyard demo` (sandbox providers, offline)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from serve_app.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="run Switchyard on a local Ray cluster against the real providers"
    )
    _common(serve)
    serve.set_defaults(handler=_serve)

    demo = subparsers.add_parser(
        "demo", help="run Switchyard offline against the sandbox providers and show a few calls"
    )
    _common(demo)
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the app up and print its URL"
    )
    demo.set_defaults(handler=_demo)


def add_auth_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="check no API keys (a laptop only): every answer then says `x-switchyard-auth: off`",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    add_auth_flag(parser)
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="HTTP port on 127.0.0.1: Switchyard's front door, which outlives replica restarts",
    )
    parser.add_argument("--directory", default=None, help="a directory folder (default: shipped)")
    parser.add_argument(
        "--ledger", default="~/.switchyard/ledger.sqlite", help="the SQLite ledger file"
    )
    parser.add_argument(
        "--local-models",
        default="",
        help="comma-separated local model ids to deploy with vLLM (needs the vLLM extra)",
    )


def _serve(args: argparse.Namespace) -> int:
    from ray import serve

    from directory.loader import load_directory
    from serve_app.app.builder import (
        APP_NAME,
        AdminKeyMissing,
        AppArgs,
        build_app,
        cloud_providers_in_use,
        with_admin_key,
    )
    from serve_app.dev.local_cluster import open_front_door, start_local_cluster

    try:
        app_args = with_admin_key(
            AppArgs(
                directory_path=args.directory,
                ledger_path=args.ledger,
                local_models=[m for m in args.local_models.split(",") if m],
                auth=not args.no_auth,
            )
        )
    except AdminKeyMissing as error:
        print(f"switchyard: {error}", file=sys.stderr)
        return 1
    proxied, skipped = cloud_providers_in_use(load_directory(args.directory), app_args)
    for provider in skipped:
        # Reported, not crashed on: that provider's models fail over to their backups.
        print(f"switchyard: no API key for {provider}; its models are skipped", file=sys.stderr)
    if not proxied and not app_args.local_models:
        print("switchyard: no provider has an API key set; try `switchyard demo`", file=sys.stderr)
        return 1
    door = open_front_door(APP_NAME, port=args.port)  # binds now: a port in use fails at once
    proxy_url = start_local_cluster(http_port=None)
    serve.run(build_app(app_args), name=APP_NAME, route_prefix="/")
    print(f"Switchyard is serving {', '.join(proxied)} at {door.url}/v1 (Ctrl-C to stop)")
    print(f"  (also through Ray Serve's proxy, slower: {proxy_url}/v1)")
    if app_args.auth:
        print(
            "  API keys are checked; make one with (admin key: $SWITCHYARD_ADMIN_KEY)\n"
            f"  switchyard keys create --url {door.url} --tenant NAME"
        )
    else:
        print("  --no-auth: NO API KEYS ARE CHECKED; anyone who reaches this port can spend")
    _wait_forever()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from serve_app.dev.demo import run_demo

    return run_demo(
        port=args.port,
        directory_path=args.directory,
        ledger_path=None if args.ledger == "~/.switchyard/ledger.sqlite" else args.ledger,
        keep_running=args.keep_running,
        auth=not args.no_auth,
    )


def _wait_forever() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        os._exit(0)
