"""The live progress line of `switchyard load` and `switchyard tune` (rich, on stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serve_app.load.generator import LoadState


@contextmanager
def live_progress(total: int, label: str) -> Iterator[Callable[[LoadState], None]]:
    """A progress bar over `total` calls; yields the callback to give each finished call."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = progress.add_task(label, total=total, detail="")

    def update(state: LoadState) -> None:
        progress.update(
            task,
            completed=state.answered + state.failed,
            detail=f"in flight {state.in_flight}, failed {state.failed}",
        )

    with progress:
        yield update
