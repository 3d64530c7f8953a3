"""Attention policies: how a layer turns (q, k, v) into its output. Plain SDPA is the default.

Every hook takes the run's `RunState`: a policy holds what it decided at construction and what it
learns across steps, never the state itself.
"""
from __future__ import annotations

import torch

from ..state import Pass
from .call import AttnCall, sdpa


class PlainPolicy:
    """Stock attention everywhere: the reference every other policy must reduce to."""

    def check_layers(self, layers) -> None:
        """Called once with the model's attention `Site`s before the run: fail on options this model cannot take."""

    def self_attention(self, call: AttnCall, state) -> torch.Tensor:
        return sdpa(call)

    def cross_attention(self, call: AttnCall, state) -> torch.Tensor:
        return sdpa(call)

    def joint_attention(self, call: AttnCall, state) -> torch.Tensor:
        """Text and image tokens attending together (FLUX); returns (B, heads, text + image tokens, head_dim)."""
        return sdpa(call)

    def after_attention(self, call: AttnCall, output: torch.Tensor, state) -> torch.Tensor:
        """Hook on the projected output (B, tokens, C), e.g. for feature injection."""
        return output

    def begin_step(self, state) -> None:
        """Called at the start of a step, before its network passes: the place to prepare what the passes will
        read from the host, while the GPU's queue still holds the previous step's work."""

    def end_step(self, state) -> None:
        """Called once the sampler has stepped: a policy may update what it learnt at this step."""

    def encoder_alike(self, state) -> bool:
        """True if this step's passes compute the UNet's down and mid blocks alike (the later pass then
        reuses the first one's outputs there)."""
        return False

    def passes(self, state) -> tuple[Pass, ...]:
        """Network passes to run at the current step; the last one drives the sampler."""
        return (Pass.SAMPLE,)
