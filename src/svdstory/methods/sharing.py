"""Run, anchors and extras for the mask-free sharing methods, built once from a policy factory."""
from __future__ import annotations

from ..anchors import AnchorCache
from ..context import RunOutput
from .registry import Method, register


def anchor_indices(n_images: int, n_anchors: int) -> list[int]:
    """The first n_anchors images (all of them for 0)."""
    return list(range(n_images if n_anchors == 0 else min(n_anchors, n_images)))


def register_sharing(name: str, config_cls, make_policy) -> Method:
    """make_policy(ctx, config, anchors, cache) -> a SharePolicy."""

    def run(ctx, config, cache=None) -> RunOutput:
        policy = make_policy(ctx, config, anchor_indices(ctx.n_images, config.n_anchors), cache)
        return RunOutput(ctx.denoise(ctx.new_state(policy)))

    def run_anchors(ctx, config):
        cache = AnchorCache("record", "cpu" if config.cache_device == "cpu" else None)
        out = run(ctx, config, cache)
        cache.mode = "use"
        return out, cache

    def run_extra(ctx, config, cache) -> RunOutput:
        return RunOutput(ctx.denoise(ctx.new_state(make_policy(ctx, config, [], cache))))

    return register(Method(name, config_cls, run, run_anchors, run_extra))
