"""`vanilla`: the plain batch with the same seeds, the reference every method is compared with."""
from __future__ import annotations

from ..attention.policy import PlainPolicy
from ..sampling import RunOutput
from .configs import VanillaConfig
from .registry import Method, register


def run(ctx, config: VanillaConfig) -> RunOutput:
    return RunOutput(ctx.denoise(PlainPolicy()))


def run_anchors(ctx, config: VanillaConfig):
    return run(ctx, config), None


def run_extra(ctx, config: VanillaConfig, cache) -> RunOutput:
    return run(ctx, config)


register(Method("vanilla", VanillaConfig, run, run_anchors, run_extra))
