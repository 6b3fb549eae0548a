"""What a build shows while it runs: a progress bar on a terminal, plain lines otherwise.

An object with the methods of a doit reporter (doit calls them for every task). It writes to stderr, so
stdout stays free for machine-readable output.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

_BAR_WIDTH = 30


class ProgressReporter:
    """Counts the tasks doit examines and draws the progress of the ones it runs."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self.failures: list[str] = []
        self._last_draw = 0.0
        self._last_step = -1

    # doit's reporter interface -------------------------------------------------------------------
    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        self.total = sum(1 for task in tasks.values() if task.actions)

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        pass

    def add_success(self, task: Any) -> None:
        self._advance()

    def skip_uptodate(self, task: Any) -> None:
        self._advance()

    def skip_ignore(self, task: Any) -> None:
        self._advance()

    def add_failure(self, task: Any, fail: Any) -> None:
        self._advance()
        message = f"task {task.name} failed: {fail.get_msg().strip()}"
        self.failures.append(message)
        self._clear()
        self.stream.write(f"kwbuild: {message}\n")

    def runtime_error(self, msg: str) -> None:
        self.failures.append(msg)
        self._clear()
        self.stream.write(f"kwbuild: {msg}\n")

    def cleanup_error(self, exception: Any) -> None:
        self.runtime_error(exception.get_msg())

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        self._clear()

    # drawing --------------------------------------------------------------------------------------
    def _advance(self) -> None:
        self.done += 1
        self.total = max(self.total, self.done)  # page and folder tasks are created during the run
        if self.quiet or not self.total:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._last_draw = now
                filled = _BAR_WIDTH * self.done // self.total
                bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
                self.stream.write(f"\r[{bar}] {self.done}/{self.total} tasks")
                self.stream.flush()
        else:
            step = 10 * self.done // self.total
            if step != self._last_step and self.total >= 20:
                self._last_step = step
                self.stream.write(f"kwbuild: {self.done}/{self.total} tasks checked\n")

    def _clear(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r" + " " * (_BAR_WIDTH + 30) + "\r")
            self.stream.flush()
