"""`--max-minutes`: a call's time budget, so a bench ends cleanly before a device's time limit.

A unit starts only while the pace of this process's units so far says it ends in time; a unit still
running at the deadline is abandoned at its next sampler step (nothing of it is recorded). Finished
units stay in the folder, and the same command run again resumes. The deadline is wall-clock time
(`time.time()`), so every process of one call shares it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass


class OutOfTime(Exception):
    """The budget is spent: this process stops; its finished units stay in the folder."""


@dataclass(frozen=True)
class TimeBudget:
    deadline: float | None = None  # time.time() by which the call ends; None: no limit

    @classmethod
    def minutes_from_now(cls, minutes: float | None) -> "TimeBudget":
        return cls(None if minutes is None else time.time() + 60.0 * minutes)

    def left(self) -> float:
        """Seconds until the deadline (negative once past it)."""
        return math.inf if self.deadline is None else self.deadline - time.time()

    def allows(self, seconds: float) -> bool:
        """Whether work expected to take `seconds` ends before the deadline."""
        return seconds <= self.left()

    def check(self) -> None:
        if self.left() <= 0:
            raise OutOfTime()


@dataclass
class Pace:
    """Seconds per sampler step over the units finished so far, generation and scoring together."""

    seconds: float = 0.0
    steps: int = 0

    def add(self, seconds: float, steps: int) -> None:
        self.seconds += seconds
        self.steps += steps

    def estimate(self, steps: int) -> float:
        """Expected seconds of a unit of `steps` sampler steps; 0 before any unit finished."""
        return self.seconds / self.steps * steps if self.steps else 0.0
