"""Rich progress bars for the phases of a run (generate, grade, embed, measure)."""

from __future__ import annotations

from typing import Callable, Optional


class Stage:
    """A rich ``Progress`` shown while a run works; ``bar(name)`` gives a callback
    ``(done, total)`` that drives one bar. Disabled, every callback is a no-op."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = None

    def __enter__(self) -> "Stage":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def bar(self, name: str, unit: str = "") -> Callable[[int, int], None]:
        if self._progress is None:
            return lambda done, total: None
        progress = self._progress
        task: dict[str, Optional[int]] = {"id": None}

        def update(done: int, total: int) -> None:
            if task["id"] is None:
                task["id"] = progress.add_task(name, total=total, completed=done, unit=unit)
            else:
                progress.update(task["id"], total=total, completed=done)

        return update

    def note(self, message: str) -> None:
        """One line above the bars (or nothing when disabled)."""
        if self._progress is not None:
            self._progress.console.print(message)
