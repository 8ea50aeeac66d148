"""A Rich live view of a running :func:`poqw.strike.solve`, kept out of the core loop.

``RichProgress`` is a context manager and a progress callback: it shows a bar over the strike
budget (or over the time limit when only that is set), the best energy so far, which sampler
found it, the sampler that just struck and the QAOA objective. Pass it as ``progress=``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from poqw.strike.loop import ProgressUpdate

__all__ = ["RichProgress"]


class RichProgress:
    """Live progress for long runs: ``with RichProgress() as view: solve(..., progress=view)``."""

    def __init__(self, description: str = "match-strike", console: Console | None = None,
                 transient: bool = False) -> None:
        self.description = description
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[done]}"),
            TextColumn("best [bold green]{task.fields[best]}[/] by {task.fields[by]}"),
            TextColumn("[dim]{task.fields[last]}"),
            TimeElapsedColumn(),
            console=console,
            transient=transient,
        )
        self.task: TaskID | None = None
        self.updates = 0

    def __enter__(self) -> RichProgress:
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=None, done="", best="-",
                                           by="-", last="")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def __call__(self, update: ProgressUpdate) -> None:
        if self.task is None:
            raise RuntimeError("use RichProgress as a context manager: with RichProgress() as p")
        record = update.record
        fields: dict[str, Any] = {
            "best": f"{record.best_energy:.6g}",
            "by": update.found_by,
            "last": record.sampler if record.objective is None
            else f"{record.sampler} objective {record.objective:.4g}",
        }
        if update.max_strikes is not None:
            total, completed = float(update.max_strikes), float(record.index + 1)
            fields["done"] = f"{record.index + 1}/{update.max_strikes} strikes"
        elif update.time_limit is not None:
            total, completed = float(update.time_limit), min(record.time, update.time_limit)
            limit = update.time_limit
            fields["done"] = f"{record.index + 1} strikes, {record.time:.1f}/{limit:g} s"
        else:
            total, completed = float(record.index + 1), float(record.index + 1)
            fields["done"] = f"{record.index + 1} strikes"
        self.progress.update(self.task, total=total, completed=completed, **fields)
        self.updates += 1
