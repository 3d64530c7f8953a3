"""`storydiffusion`: Consistent Self-Attention (Zhou et al., 2024): each image also attends to a
random sample of the other images' tokens."""
from __future__ import annotations

import zlib

import torch

from ..configs import StoryDiffusionConfig
from .policy import SharePolicy
from .runs import register_sharing


def make_policy(ctx, config: StoryDiffusionConfig, anchors, recorder=None, replay=None):
    seeds = ctx.seeds

    def select(call, state, shape):
        # One draw per image, step and layer, from the image's own seed: batch splits change nothing.
        salt = zlib.crc32(call.layer.name.encode()) + 7919 * state.step
        rows = [torch.rand(shape[1], generator=torch.Generator("cpu").manual_seed((seeds[i] * 1_000_003 + salt) % 2**63))
                for i in range(shape[0])]
        return torch.stack(rows) < config.sample_rate  # on the host: SharePolicy compacts it there

    return SharePolicy(config.parts, config.steps, anchors, select=select, recorder=recorder, replay=replay)


register_sharing("storydiffusion", StoryDiffusionConfig, make_policy)
