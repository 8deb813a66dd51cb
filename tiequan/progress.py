"""Progress of long commands: a rich bar when stderr is a terminal, plain lines otherwise.

Logs, pipes and the scheduler's child logs get exactly the lines they always got; only an
operator at a terminal sees the bar (on stderr), with the command's own lines above it.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


def interactive(stream: IO[str] | None = None) -> bool:
    """Is ``stream`` (default stderr) a terminal?"""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Steps:
    """A counted task: ``advance()`` per step, ``line(text)`` for the command's output.

    A total of None is a task of unknown length (the bar pulses).
    """

    def __init__(self, label: str, total: int | None, *, bar: bool | None = None) -> None:
        self.label = label
        self.total = total
        # Nothing to do is said by the command's own line; no empty bar flashes by.
        self.bar = (interactive() if bar is None else bar) and total != 0
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> Steps:
        if self.bar:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                # stdout on the same terminal is printed above the bar; to a file, untouched.
                redirect_stdout=interactive(sys.stdout),
                redirect_stderr=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, n: int = 1, *, description: str | None = None) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=n, description=description or self.label)

    def line(self, text: str) -> None:
        """One line of the command's output (stdout); above the bar in a terminal."""
        print(text, flush=True)


class LiveBoard:
    """One live display of counters of unknown length, shared by the crawlers of a process
    (a terminal holds one live display at a time). A line removed stays on the screen."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.tasks = 0
        self.lock = threading.Lock()

    def add(self, text: str) -> TaskID:
        with self.lock:
            if self.progress is None:
                self.progress = Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self.progress.start()
            self.tasks += 1
            return self.progress.add_task(text, total=None)

    def update(self, task: TaskID, text: str) -> None:
        with self.lock:
            if self.progress is not None:
                self.progress.update(task, description=text)

    def remove(self, task: TaskID, last_line: str) -> None:
        with self.lock:
            if self.progress is None:
                return
            self.progress.remove_task(task)
            self.progress.console.print(last_line, markup=False, highlight=False)
            self.tasks -= 1
            if self.tasks <= 0:
                self.progress.stop()
                self.progress = None


BOARD = LiveBoard()
