"""Text progress bars for the CLI's long scans, on stderr only (stdout stays the command's output, e.g. the
JSON lines of `plan --json`).

`ProgressBar` is a `credlife.lifecycle.Progress` callback: `bar(stage, done, total)`. It redraws one line
in place (carriage return), at most every `min_interval` seconds, except that the first and the last update
of a stage are always drawn; a stage's line is ended with a newline when the stage completes, when the next
stage starts, or on `close()`."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: Characters of the bar itself.
WIDTH = 30
#: Shortest time between two redraws of the same stage.
MIN_INTERVAL_S = 0.1


def wanted(stream: TextIO, forced: bool | None) -> bool:
    """Draw bars? `forced` (the `--progress` / `--no-progress` flags) decides; by default only when
    `stream` is a terminal (never into a pipe, a file or a CI log)."""
    if forced is not None:
        return forced
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # closed or detached
        return False


class ProgressBar:
    def __init__(
        self,
        stream: TextIO,
        *,
        width: int = WIDTH,
        min_interval: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._width = width
        self._min_interval = min_interval
        self._clock = clock
        self._stage: str | None = None
        self._open = False  # a line drawn and not yet ended
        self._last_draw = 0.0
        self._last_len = 0
        #: Lines drawn so far (for tests and `--progress` diagnostics).
        self.draws = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self._clock()
        new_stage = stage != self._stage
        finished = total > 0 and done >= total
        if new_stage:
            self._end_line()
            self._stage = stage
        elif not finished and now - self._last_draw < self._min_interval:
            return
        self._draw(self._line(stage, done, total))
        self._last_draw = now
        if finished:
            self._end_line()

    def close(self) -> None:
        """End the current line (a scan that stopped early leaves no half-drawn line behind)."""
        self._end_line()

    def _line(self, stage: str, done: int, total: int) -> str:
        if total <= 0:
            return f"{stage}: {done}"
        shown = min(done, total)
        filled = round(self._width * shown / total)
        bar = "#" * filled + "-" * (self._width - filled)
        return f"{stage:<12} [{bar}] {shown}/{total} {100 * shown // total:3d}%"

    def _draw(self, line: str) -> None:
        padding = " " * max(0, self._last_len - len(line))  # wipe what a longer previous line left
        self._write(f"\r{line}{padding}")
        self._last_len = len(line)
        self._open = True
        self.draws += 1

    def _end_line(self) -> None:
        if self._open:
            self._write("\n")
            self._open = False
            self._last_len = 0

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed terminal never fails the scan
            pass


class DeadlineExceeded(BaseException):
    """The command's total time (`--timeout`) ran out. A BaseException, like KeyboardInterrupt, so that no
    "one user's failure never stops the others" handler swallows it and the run goes on past the deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise `DeadlineExceeded` in the running command once `seconds` have passed (a real-time interval
    timer: it interrupts sleeps in retry loops too). None or 0: no deadline. Off the main thread (where
    signals cannot be delivered) no deadline is set."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DeadlineExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
