"""Progress bars for long work outside the Lightning loop (rich)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """Iterate with a rich progress bar showing count, elapsed time and an estimate of time left."""
    if not enabled:
        yield from items
        return
    cols = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn())
    with Progress(*cols, transient=True) as prog:
        task = prog.add_task(description, total=total if total is not None else len(items))  # type: ignore[arg-type]
        for it in items:
            yield it
            prog.advance(task)
