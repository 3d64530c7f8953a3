"""`vanilla`: the plain batch with the same seeds, the reference every method is compared with."""
from __future__ import annotations

from dataclasses import dataclass

from ..attention.policy import PlainPolicy
from ..config import check_scheduler
from ..context import RunOutput
from .registry import Method, register


@dataclass(frozen=True)
class VanillaConfig:
    scheduler: str = "default"  # the checkpoint's own scheduler

    def __post_init__(self):
        check_scheduler(self.scheduler)


def run(ctx, config: VanillaConfig) -> RunOutput:
    return RunOutput(ctx.denoise(ctx.new_state(PlainPolicy())))


def run_anchors(ctx, config: VanillaConfig):
    return run(ctx, config), None


def run_extra(ctx, config: VanillaConfig, cache) -> RunOutput:
    return run(ctx, config)


register(Method("vanilla", VanillaConfig, run, run_anchors, run_extra, "plain batch, no sharing"))
