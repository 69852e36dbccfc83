"""`switchyard keys create|list|revoke --url URL`: tenant API keys, made by the admin.

The admin key comes from SWITCHYARD_ADMIN_KEY (never a flag: flags end up in shell history and
process lists). `create` prints the new key once; it cannot be shown again, only revoked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from serve_app.commands import Handler, Subparsers
from serve_app.commands._table import table

ADMIN_KEY_ENV = "SWITCHYARD_ADMIN_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"


def register(subparsers: Subparsers) -> None:
    keys = subparsers.add_parser(
        "keys", help=f"create, list and revoke tenant API keys (the admin key: ${ADMIN_KEY_ENV})"
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="a new key for a tenant (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--agent", help="bind the key to this agent")
    create.add_argument("--models", help="comma-separated shortcuts or model ids it may call")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--expires", help="expiry, ISO 8601 (e.g. 2027-01-31 or 2027-01-31T12:00Z)")
    create.add_argument("--name", help="a label for people")
    create.add_argument("--json", action="store_true", help="the whole answer as JSON")
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="every key (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="refuse a key from now on, on every replica")
    revoke.add_argument("key_id", help="the key's id (key_…), as `keys list` shows it")
    revoke.set_defaults(handler=_revoke)

    for action in (create, listing, revoke):
        action.add_argument(
            "--url", default=DEFAULT_URL, help=f"Switchyard (default {DEFAULT_URL})"
        )


def _request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    admin = os.environ.get(ADMIN_KEY_ENV)
    if not admin:
        raise _Failed(f"set {ADMIN_KEY_ENV} to the admin key of the Switchyard at {args.url}")
    response = httpx.request(
        method,
        f"{args.url.rstrip('/')}{path}",
        headers={"authorization": f"Bearer {admin}"},
        timeout=30,
        **kwargs,
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not response.is_success:  # a redirect too: the answer is not what was asked for
        message = (body.get("error") or {}).get("message") or f"HTTP {response.status_code}"
        raise _Failed(message)
    return body


class _Failed(Exception):
    pass


def _handle(action: Callable[[argparse.Namespace], None]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import httpx

        try:
            action(args)
        except _Failed as error:
            print(f"switchyard: {error}", file=sys.stderr)
            return 1
        except httpx.HTTPError as error:
            print(f"switchyard: cannot reach {args.url}: {type(error).__name__}", file=sys.stderr)
            return 1
        return 0

    return handler


def _expiry(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Failed(f"--expires {text!r} is not an ISO 8601 date or time") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _create_action(args: argparse.Namespace) -> None:
    asked = {
        "tenant": args.tenant,
        "agent": args.agent,
        "models": [m for m in args.models.split(",") if m] if args.models else None,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "expires_at": _expiry(args.expires),
        "name": args.name,
    }
    body = _request(
        args, "POST", "/v1/admin/keys", json={k: v for k, v in asked.items() if v is not None}
    )
    if args.json:
        print(json.dumps(body, indent=2))
        return
    print(body["key"])
    print(
        f"(key {body['id']} for tenant {body['tenant']}: shown this once; "
        f"`switchyard keys revoke {body['id']}` ends it)",
        file=sys.stderr,
    )


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _list_action(args: argparse.Namespace) -> None:
    keys = _request(args, "GET", "/v1/admin/keys")["data"]
    if args.json:
        print(json.dumps(keys, indent=2))
        return
    if not keys:
        print("no keys")
        return
    headers = ["ID", "TENANT", "AGENT", "MODELS", "RPM", "TPM", "NAME", "KEY", "CREATED"]
    headers += ["EXPIRES", "REVOKED"]
    rows = [
        [
            k["id"],
            k["tenant"],
            k.get("agent") or "*",
            ",".join(k.get("models") or []) or "*",
            str(k.get("rpm") or "-"),
            str(k.get("tpm") or "-"),
            k.get("name") or "",
            f"…{k.get('hint', '')}",
            _when(k["created_at"]),
            _when(k.get("expires_at")),
            _when(k.get("revoked_at")),
        ]
        for k in keys
    ]
    print(table(headers, rows, right={4, 5}))


def _revoke_action(args: argparse.Namespace) -> None:
    if not args.key_id.strip():
        raise _Failed("name the key by its id (key_…, as `switchyard keys list` shows it)")
    body = _request(args, "DELETE", f"/v1/admin/keys/{args.key_id}")
    print(f"revoked {body['id']} (tenant {body['tenant']}) at {_when(body['revoked_at'])}")


_create = _handle(_create_action)
_list = _handle(_list_action)
_revoke = _handle(_revoke_action)
