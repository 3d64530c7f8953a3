"""`shared`: extended self-attention without masks, the ablation that shows background leakage."""
from __future__ import annotations

from ..configs import SharedConfig
from .policy import SharePolicy
from .runs import register_sharing


def make_policy(ctx, config: SharedConfig, anchors, recorder=None, replay=None):
    return SharePolicy(config.parts, config.steps, anchors, recorder=recorder, replay=replay,
                       uncond=config.share_uncond, pool=config.anchor_pool)


register_sharing("shared", SharedConfig, make_policy)
