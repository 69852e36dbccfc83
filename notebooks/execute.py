"""Build and run the notebooks: `python notebooks/execute.py [--out DIR] [NAME.py ...]`
(`make notebooks`; `make test` runs them quick, into a folder of its own).

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


def execute(source: Path, out_dir: Path = HERE) -> Path:
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(HERE.parent)}}
    ).execute()
    target = out_dir / source.with_suffix(".ipynb").name
    nbformat.write(notebook, target)
    return target


def main(argv: list[str]) -> int:
    out_dir = HERE
    if argv[:1] == ["--out"]:
        out_dir, argv = Path(argv[1]), argv[2:]
        out_dir.mkdir(parents=True, exist_ok=True)
    sources = [HERE / name for name in argv] or sorted(HERE.glob("[0-9]*.py"))
    for source in sources:
        print(f"executed {execute(source, out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
