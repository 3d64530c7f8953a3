"""Capture UNet features with forward hooks (DIFT-style decoder features at one sampler step)."""
from __future__ import annotations

from .state import Pass


def capture_block_output(module, state, name: str, step: int):
    """A (module, hook) pair storing the conditional half of `module`'s output at `step` in state.features."""

    def hook(_module, _inputs, output):
        if state.unet_pass is Pass.SAMPLE and state.step == step:
            tensor = output[0] if isinstance(output, tuple) else output
            state.features[name] = state.layout.cond(tensor).detach().clone()

    return module, hook
