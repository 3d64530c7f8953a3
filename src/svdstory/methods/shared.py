"""`shared`: extended self-attention without masks, the ablation that shows background leakage."""
from __future__ import annotations

from ..attention.share_policy import SharePolicy
from .configs import SharedConfig
from .sharing import register_sharing


def make_policy(ctx, config: SharedConfig, anchors, cache):
    return SharePolicy(config.parts, config.steps, anchors, cache=cache, uncond=config.share_uncond,
                       pool=config.anchor_pool)


register_sharing("shared", SharedConfig, make_policy)
