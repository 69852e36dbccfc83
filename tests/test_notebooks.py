"""Every notebook runs, in its quick mode, so that none can rot (`make test` installs the
`notebooks` extra). The executed copies are kept in pytest's temporary folder; the committed
notebooks (full runs) are `make notebooks`' to write."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.py"))

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(
        importlib.util.find_spec("nbclient") is None
        or importlib.util.find_spec("jupytext") is None,
        reason="needs the notebooks extra (make test installs it)",
    ),
]


@pytest.mark.parametrize("source", SOURCES)
def test_notebook_runs(source: str, tmp_path: Path) -> None:
    if source.startswith("03_") and importlib.util.find_spec("vllm") is None:
        pytest.skip("the autoscaling notebook needs vLLM's CPU build")
    env = {**os.environ, "SWITCHYARD_NOTEBOOK_QUICK": "1"}
    done = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "execute.py"), "--out", str(tmp_path), source],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / source.replace(".py", ".ipynb")).exists()
