"""Progress over every sampler step of a request: a counting callback, and a bar on a terminal."""
from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int], None]  # progress(done, total): (0, total) first, then after each sampler step


class StepCounter:
    """A sampler callback that counts the steps of a whole request and reports `progress(done, total)`: (0, total)
    at once, then after every step. `check()`, if given, runs before each step is counted and may raise to stop."""

    def __init__(self, total: int, progress: Progress | None = None, check: Callable[[], None] | None = None):
        self.done, self.total, self.progress, self.check = 0, total, progress, check
        if progress is not None:
            progress(0, total)  # the total shows before the first step, which may be slow to come

    def __call__(self, info) -> None:
        if self.check is not None:
            self.check()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


class TerminalBar:
    """A progress(done, total) drawn as a bar with an ETA on a terminal, and nothing when output is not one."""

    def __init__(self, desc: str, unit: str = "step"):
        self.desc, self.unit, self.bar = desc, unit, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=self.desc, total=total, unit=self.unit, leave=False, disable=None)  # None: TTY only
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
