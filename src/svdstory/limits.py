"""What a model allows a run to ask for: the most sampler steps its scheduler takes, and the largest image.

Both come from the model's configs alone (no weights), so the command line checks them before the model loads
and the web page at its fields.
"""
from __future__ import annotations

from .errors import SvdStoryError

SIDE_FACTOR = 2  # an image side may be up to this many times the model's own (SD 1.5: 1024 px, SDXL: 2048 px)


def _fits(scheduler, steps: int) -> bool:
    """The scheduler makes `steps` timesteps, each one the model was trained on."""
    train = scheduler.config.num_train_timesteps
    if steps > train:
        return False
    try:
        scheduler.set_timesteps(steps)
    except (ValueError, IndexError):
        return False
    timesteps = [int(t) for t in scheduler.timesteps]
    return len(timesteps) == steps and all(0 <= t < train for t in timesteps)


def most_steps(schedulers) -> int:
    """The most steps that every one of `schedulers` takes (one step fewer per `steps_offset`, as DDIM's
    "leading" spacing shifts the last timestep past the end)."""
    top = min(s.config.num_train_timesteps for s in schedulers)
    return next((n for n in range(top, 0, -1) if all(_fits(s, n) for s in schedulers)), 0)


def check_steps(steps: int | None, schedulers, what: str = "--steps") -> None:
    """Refuse more steps than a sampler svdstory offers on this model (its own, DDIM) can take."""
    if steps is None or all(_fits(s, steps) for s in schedulers):
        return
    train = min(s.config.num_train_timesteps for s in schedulers)
    raise SvdStoryError(f"{what} {steps} is more than the model's scheduler takes ({train} training timesteps): "
                        f"use at most {most_steps(schedulers)}")


def largest_side(default_side: int) -> int:
    return SIDE_FACTOR * default_side


def check_largest(default_side: int, sides: dict) -> None:
    """Refuse an image side over SIDE_FACTOR times the model's own: its cost grows with the square of the pixel
    count (self-attention over every latent position) and a single step can take minutes and gigabytes.
    `sides`: each side by the name of its input, e.g. {"--height": 512, "--width": None}."""
    limit = largest_side(default_side)
    for name, value in sides.items():
        if value is not None and value > limit:
            raise SvdStoryError(f"{name} {value} is over {limit}, {SIDE_FACTOR}x the model's own size of "
                                f"{default_side} px")
