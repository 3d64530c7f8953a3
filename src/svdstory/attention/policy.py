"""Attention policies: how a layer turns (q, k, v) into its output. Plain SDPA is the default.

Every hook takes the run's `RunState`: a policy holds what it decided at construction and what it
learns across steps, never the state itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..state import Pass
from .spatial import LayerInfo


@dataclass
class AttnCall:
    """One attention call, already projected: tensors are (B, heads, tokens, head_dim)."""

    layer: LayerInfo
    attn: object  # the diffusers Attention module (owns the weights)
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    grid: tuple[int, int]  # (h, w) of the query tokens
    hidden_states: torch.Tensor  # (B, tokens, C): the normalised input the keys were projected from
    attention_mask: torch.Tensor | None = None


def sdpa(call: AttnCall) -> torch.Tensor:
    return F.scaled_dot_product_attention(call.query, call.key, call.value, attn_mask=call.attention_mask,
                                          scale=call.attn.scale)


class PlainPolicy:
    """Stock attention everywhere: the reference every other policy must reduce to."""

    def check_layers(self, layers) -> None:
        """Called once with the model's LayerInfo list before the run: fail on options this model cannot take."""

    def self_attention(self, call: AttnCall, state) -> torch.Tensor:
        return sdpa(call)

    def cross_attention(self, call: AttnCall, state) -> torch.Tensor:
        return sdpa(call)

    def after_attention(self, call: AttnCall, output: torch.Tensor, state) -> torch.Tensor:
        """Hook on the projected output (B, tokens, C), e.g. for feature injection."""
        return output

    def begin_step(self, state) -> None:
        """Called at the start of a step, before its UNet passes: the place to prepare what the passes will
        read from the host, while the GPU's queue still holds the previous step's work."""

    def end_step(self, state) -> None:
        """Called once the sampler has stepped: a policy may update what it learnt at this step."""

    def encoder_alike(self, state) -> bool:
        """True if this step's passes compute the UNet's down and mid blocks alike (the later pass then
        reuses the first one's outputs there)."""
        return False

    def passes(self, state) -> tuple[Pass, ...]:
        """UNet passes to run at the current step; the last one drives the sampler."""
        return (Pass.SAMPLE,)
