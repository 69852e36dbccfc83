"""Build and run the notebooks: `python notebooks/execute.py [NAME.py ...]` (`make notebooks`).

Each notebook's source is a percent-format script (`# %%` cells) beside it, easy to review and
diff; this turns each into a `.ipynb` with jupytext and executes it in place with nbclient, so the
committed notebooks carry the outputs of a real run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(source: Path) -> Path:
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(HERE.parent)}}
    ).execute()
    target = source.with_suffix(".ipynb")
    nbformat.write(notebook, target)
    return target


def main(names: list[str]) -> int:
    sources = [HERE / name for name in names] or sorted(HERE.glob("[0-9]*.py"))
    for source in sources:
        print(f"executed {execute(source).relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
