"""Step windows given as fractions of the run, resolved the way the reference release counts steps."""
from __future__ import annotations


def in_window(step: int, num_steps: int, window: tuple[float, float]) -> bool:
    """True if int(start*n) <= step <= int(end*n): (0.1, 1/3) of 50 steps is steps 5..16 inclusive."""
    return int(window[0] * num_steps) <= step <= int(window[1] * num_steps)


def ramp(step: int, num_steps: int, window: tuple[float, float], start: float, end: float) -> float:
    """Linear interpolation from `start` at the window's first step to `end` at its last."""
    first, last = int(window[0] * num_steps), int(window[1] * num_steps)
    if last <= first:
        return start
    return start + (end - start) * (step - first) / (last - first)


def nearest_step(timesteps: list[int], timestep: float) -> int:
    """Index of the sampler step whose timestep is closest to `timestep`."""
    return min(range(len(timesteps)), key=lambda i: abs(timesteps[i] - timestep))
