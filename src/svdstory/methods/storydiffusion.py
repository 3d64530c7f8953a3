"""`storydiffusion`: Consistent Self-Attention (Zhou et al., 2024): each image also attends to a
random sample of the other images' tokens."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from ..attention.share_policy import SharePolicy
from ..config import check_fraction
from .sharing import check_sharing, register_sharing


@dataclass(frozen=True)
class StoryDiffusionConfig:
    scheduler: str = "ddim"
    n_anchors: int = 0  # 0: every image samples from every other image, as in the paper's batch
    parts: tuple[str, ...] = ("up",)  # UNet parts with consistent self-attention
    steps: tuple[float, float] = (0.0, 1.0)
    sample_rate: float = 0.5  # fraction of the other images' tokens each image sees (paper: 0.5)
    cache_device: str = "same"

    def __post_init__(self):
        check_sharing(self)
        check_fraction("sample_rate", self.sample_rate)


def make_policy(ctx, config: StoryDiffusionConfig, anchors, cache):
    seeds = ctx.seeds

    def select(call, state, shape):
        # One draw per image, step and layer, from the image's own seed: batch splits change nothing.
        salt = zlib.crc32(call.layer.name.encode()) + 7919 * state.step
        rows = [torch.rand(shape[1], generator=torch.Generator("cpu").manual_seed((seeds[i] * 1_000_003 + salt) % 2**63))
                for i in range(shape[0])]
        return torch.stack(rows) < config.sample_rate  # on the host: SharePolicy compacts it there

    return SharePolicy(config.parts, config.steps, anchors, select=select, cache=cache)


register_sharing("storydiffusion", StoryDiffusionConfig, make_policy,
                 "StoryDiffusion's consistent self-attention (random token sampling)")
