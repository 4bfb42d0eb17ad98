"""Progress reporting: one line per post, with a rich progress bar on a terminal; colour
only on a terminal (a log file gets plain text)."""

from __future__ import annotations

import re
import threading
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# a terminal's colour and cursor codes (in a notebook's traceback, a tool's log)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def without_ansi(text: str) -> str:
    return ANSI.sub("", text)


STYLES = {"cached": "dim", "executing": "cyan", "done": "green", "failed": "bold red",
          "stored": "dim", "building": "yellow", "built": "green"}


class Reporter:
    """Thread-safe progress lines; a live bar when stderr is a terminal."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: int | None = None

    def start(self, what: str, total: int) -> None:
        if self.quiet or not self.console.is_terminal or total == 0:
            return
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(what, total=total)

    def advance(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _plain(self, text: str) -> str:
        """*text* as this console shows it: its colour codes only on a terminal."""
        return text if self.console.is_terminal else without_ansi(text)

    def line(self, status: str, subject: str, detail: str = "") -> None:
        if self.quiet:
            return
        subject, detail = self._plain(subject), self._plain(detail)
        style = STYLES.get(status, "")
        text = f"[{style}]{status:>9}[/{style}] {subject}" if style else f"{status:>9} {subject}"
        if detail:
            text += f" [dim]{detail}[/dim]"
        with self._lock:
            self.console.print(text, markup=True, soft_wrap=True)

    def log(self, message: str) -> None:
        if not self.quiet:
            with self._lock:
                self.console.print(self._plain(message), markup=False, soft_wrap=True)

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
