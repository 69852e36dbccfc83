"""The directory is data: its package loads without Ray and without the deployments it describes,
so a CLI command, a test or a notebook can read it cheaply."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter imports every module of the package and prints which of the two it loaded.
_LOADED = """
import importlib, pkgutil, sys
import directory
for module in pkgutil.iter_modules(directory.__path__):
    importlib.import_module(f"directory.{module.name}")
print(sorted(name for name in ("deployments", "ray") if name in sys.modules))
"""


def test_the_directory_package_imports_neither_ray_nor_deployments() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
