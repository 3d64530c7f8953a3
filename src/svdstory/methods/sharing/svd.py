"""`svd`: the proposed method. Mask-free sharing whose cross-image part is filtered by its spectrum.

Targets: `kv` (the anchors' keys and values), `hidden` (the anchors' stacked hidden states before
the key/value projections), `attn` (the cross-image block of the attention probabilities).
`zero` drops the lower singular values (meant against background leakage; docs/results.md); `reweight` reshapes the kept
ones (for subject similarity); both take the spectral spec grammar of `svdstory.spectral.spec`.
Options: `configs.SvdConfig`.
"""
from __future__ import annotations

from ..configs import SvdConfig
from .policy import SharePolicy
from .runs import register_sharing
from .svd_targets import TARGETS


def make_policy(ctx, config: SvdConfig, anchors, recorder=None, replay=None):
    transform = TARGETS[config.target](config.spec, config.decomposition, config.rank, config.refresh)
    return SharePolicy(config.parts, config.steps, anchors, transform, recorder=recorder, replay=replay,
                       keep_hidden=config.target == "hidden", uncond=config.share_uncond, pool=config.anchor_pool)


register_sharing("svd", SvdConfig, make_policy)
