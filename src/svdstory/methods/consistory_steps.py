"""How many sampler steps one ConsiStory run makes: its pre-pass, then its main pass.

The pre-pass runs until the DIFT step (prepass="feature") or to the end, on its own schedule when
prepass_steps is set; the main pass starts where it takes over the pre-pass (the first injection
step, see consistory._resume_step) or from step 0. Kept beside consistory.py until that module
declares it at registration.
"""
from __future__ import annotations

from ..sampling import make_scheduler
from ..steps import in_window, nearest_step
from . import consistory  # noqa: F401  (registers the method this module completes)
from .registry import set_step_count


def count_steps(model, config, steps: int) -> int:
    if not config.injection:
        return steps
    pre_steps = config.prepass_steps or steps
    scheduler = make_scheduler(model, config.scheduler)
    scheduler.set_timesteps(pre_steps)
    train_steps = model.pipe.scheduler.config.num_train_timesteps
    dift_step = nearest_step([int(t) for t in scheduler.timesteps], config.dift_timestep * train_steps / 1000)
    stop = dift_step + 1 if config.prepass == "feature" else pre_steps
    prepass = min(stop, pre_steps)
    takeover = 0
    if config.reuse_prepass and config.prepass_steps is None:
        first = next((i for i in range(steps) if in_window(i, steps, config.injection_steps)), steps)
        takeover = min(first, stop)
    return prepass + steps - takeover


set_step_count("consistory", count_steps)
