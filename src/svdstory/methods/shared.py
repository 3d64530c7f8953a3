"""`shared`: extended self-attention without masks, the ablation that shows background leakage."""
from __future__ import annotations

from dataclasses import dataclass

from ..attention.share_policy import SharePolicy
from .sharing import check_sharing, register_sharing


@dataclass(frozen=True)
class SharedConfig:
    scheduler: str = "ddim"
    n_anchors: int = 2  # images whose tokens everyone sees (0: every other image)
    parts: tuple[str, ...] = ("up",)  # UNet parts with sharing (as ConsiStory's SDSA)
    steps: tuple[float, float] = (0.0, 1.0)  # fraction-of-run window
    anchor_pool: int = 1  # share each anchor's tokens averaged over k x k patches (our speed approximation)
    share_uncond: bool = True  # also share in the unconditional half of guidance (False: plain attention there)
    cache_device: str = "same"  # anchors+extras: "cpu" offloads the anchor cache

    def __post_init__(self):
        check_sharing(self)


def make_policy(ctx, config: SharedConfig, anchors, cache):
    return SharePolicy(config.parts, config.steps, anchors, cache=cache, uncond=config.share_uncond,
                       pool=config.anchor_pool)


register_sharing("shared", SharedConfig, make_policy, "mask-free extended self-attention (all anchor tokens)")
