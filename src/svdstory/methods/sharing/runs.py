"""Run, anchors and extras for the mask-free sharing methods, built once from a policy factory."""
from __future__ import annotations

from ...anchors import AnchorReplay
from ...sampling import RunOutput
from ..anchored import anchor_indices, anchor_recorder
from ..registry import Method, register


def register_sharing(name: str, config_cls, make_policy) -> Method:
    """make_policy(ctx, config, anchors, recorder=None, replay=None) -> a SharePolicy."""

    def run(ctx, config, recorder=None) -> RunOutput:
        anchors = anchor_indices(ctx.n_images, config.n_anchors)
        return RunOutput(ctx.denoise(make_policy(ctx, config, anchors, recorder=recorder)))

    def run_anchors(ctx, config, recorder=None):  # recorder: a photo's filters what it keeps by the photo's mask
        recorder = recorder or anchor_recorder(config)
        return run(ctx, config, recorder), recorder.cache

    def run_extra(ctx, config, cache) -> RunOutput:
        return RunOutput(ctx.denoise(make_policy(ctx, config, [], replay=AnchorReplay(cache))))

    return register(Method(name, config_cls, run, run_anchors, run_extra, reference=True))
