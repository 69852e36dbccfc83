"""The `switchyard` CLI's command groups, one module each (see `serve_app/cli.py`).

Each module has `register(subparsers)`, which adds its subparser and sets `handler` (a function
from the parsed arguments to the exit status) with `set_defaults`. The CLI imports every command
module at start, so a module imports nothing heavy (Ray, the SDKs, FastAPI) at its top: it does so
inside its handlers, and `switchyard directory …` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

# A string: argparse's class is generic only to the type checker.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]
