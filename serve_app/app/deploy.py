"""`serve deploy` for Switchyard: a Serve config that carries the directory, sent to a cluster.

The directory travels in the Ingress deployment's `user_config`, the tenants' budgets beside it,
so deploying a changed directory or changed budgets is a lightweight update: Serve calls
`Ingress.reconfigure()` on the running replicas and the shortcuts re-point with no restart. The
directory is validated here first; a broken one never leaves this machine (and a replica that gets
one anyway refuses it and keeps the old one).
"""

from __future__ import annotations

from typing import Any

import httpx

from directory.schema import Directory
from serve_app.app.builder import APP_NAME, INGRESS_NAME, AppArgs, user_config


def serve_config(
    app_args: AppArgs, directory: Directory, *, http_port: int = 8000
) -> dict[str, Any]:
    """The Serve config (the schema `serve deploy` takes) for Switchyard with `directory`.

    The admin key's hash travels in the args when `app_args` has one (`with_admin_key` fills it
    from the deployer's SWITCHYARD_ADMIN_KEY); without one, the cluster's builder reads that
    variable from its own environment."""
    return {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": http_port},
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": "serve_app.app.builder:app_builder",
                "args": app_args.model_dump(mode="json", exclude_defaults=True),
                "deployments": [
                    {"name": INGRESS_NAME, "user_config": user_config(app_args, directory)}
                ],
            }
        ],
    }


def deploy(config: dict[str, Any], dashboard_url: str = "http://127.0.0.1:8265") -> None:
    """Submit `config` as `serve deploy` does: PUT to the dashboard's Serve REST API."""
    response = httpx.put(
        f"{dashboard_url.rstrip('/')}/api/serve/applications/", json=config, timeout=60
    )
    if response.status_code >= 400:
        raise RuntimeError(
            f"serve deploy to {dashboard_url} failed: HTTP {response.status_code} {response.text}"
        )
