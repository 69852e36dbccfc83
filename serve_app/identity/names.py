"""Tenant and agent names: what a caller or an admin may write for them.

Names become ledger columns, metric labels and allowance keys, so they are kept to a plain
charset and a bounded length; anything else is refused with a 400 naming the field.
"""

from __future__ import annotations

import re

NAME_MAX = 64
_NAME = re.compile(rf"[A-Za-z0-9._-]{{1,{NAME_MAX}}}")


def check_name(field: str, value: str) -> str:
    """`value` if it is a valid tenant or agent name, else ValueError naming `field`."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{field} must be 1 to {NAME_MAX} characters of A-Z, a-z, 0-9, '.', '_' or '-'"
        )
    return value
