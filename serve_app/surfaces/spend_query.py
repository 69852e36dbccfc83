"""`GET /v1/spend`'s query, checked in the Ingress: a bad parameter is a 400 naming it, before
anything reaches the ledger (whose own errors would come back through Ray)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deployments.ledger.store import FILTER_KEYS, GROUP_KEYS
from serve_app.identity.names import check_name
from serve_app.surfaces.common import WireError

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_VALUE_MAX = 200  # model ids and shortcut names are far shorter


def spend_query(items: Sequence[tuple[str, str]]) -> tuple[list[str], dict[str, str]]:
    """(group_by, filters) from the query's (name, value) pairs; WireError(400) naming the
    parameter that is unknown, repeated or malformed."""
    seen: set[str] = set()
    group_by = ["tenant"]
    filters: dict[str, str] = {}
    for name, value in items:
        if name in seen:
            raise WireError(f"{name!r} is given more than once", param=name)
        seen.add(name)
        if name == "group_by":
            group_by = [key for key in value.split(",") if key]
            for key in group_by:
                if key not in GROUP_KEYS:
                    raise WireError(
                        f"cannot group spend by {key[:40]!r}; choose from {', '.join(GROUP_KEYS)}",
                        param="group_by",
                    )
        elif name in FILTER_KEYS:
            filters[name] = _checked(name, value)
        else:
            raise WireError(
                f"unknown parameter {name[:40]!r}; use group_by or one of {', '.join(FILTER_KEYS)}",
                param=name[:40],
            )
    return group_by, filters


def _checked(name: str, value: str) -> str:
    if name in ("day", "since", "until"):
        if not _DAY.fullmatch(value):
            raise WireError(f"{name} must be a day as YYYY-MM-DD", param=name)
    elif name in ("tenant", "agent"):
        try:
            check_name(name, value)
        except ValueError as error:
            raise WireError(str(error), param=name) from None
    elif not (0 < len(value) <= _VALUE_MAX and value.isprintable()):
        raise WireError(f"{name} must be 1 to {_VALUE_MAX} printable characters", param=name)
    return value
