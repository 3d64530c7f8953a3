"""Capture a network's features with forward hooks (DIFT features at one sampler step)."""
from __future__ import annotations

from ...state import Pass


def capture_block_output(module, read, state, name: str, step: int, first_half_scale: float | None = None):
    """A (module, hook) pair storing a copy of the conditional half of `module`'s output at `step` in
    state.features, as `read(output, latent_hw)` lays it out (`Backbone.dift_source`); with `first_half_scale`,
    the first half of its channels multiplied by it, as the next block will scale them in place
    (`UNetBackbone.freeu_input_scale`)."""

    def hook(_module, _inputs, output):
        if state.network_pass is Pass.SAMPLE and state.step == step:
            features = state.layout.cond(read(output, state.latent_hw)).detach().clone()  # (n, C, h, w)
            if first_half_scale is not None:
                half = features.shape[1] // 2
                features[:, :half] = features[:, :half] * first_half_scale
            state.features[name] = features

    return module, hook
