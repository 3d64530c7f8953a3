"""ConsiStory's feature injection: at one grid, the output of each subject patch is blended with the output
of its corresponding patch in another image (dense DIFT correspondences)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...profiling import INJECTION, region
from ...state import Pass
from ...steps import in_window
from .correspondence import Correspondence


@dataclass
class Injection:
    """Feature injection at one grid: target patches take the output of their corresponding source patch."""

    grid: tuple[int, int]
    match: Correspondence
    alpha: float


def inject(own: torch.Tensor, sources: torch.Tensor, match: Correspondence, alpha: float) -> torch.Tensor:
    """own (n, T, C) -> alpha * sources[match] + (1 - alpha) * own where `match.use`, own elsewhere.
    sources (m, T, C): the outputs of the source images before any injection."""
    picked = sources[match.source, match.position]  # (n, T, C): every patch's source, used or not
    return torch.where(match.use.unsqueeze(-1), alpha * picked + (1 - alpha) * own, own)


class FeatureInjection:
    """Injection in the self-attention layers of `parts` during the `steps` window, from this batch's own
    outputs (recorded for extras by `recorder`) or from the anchors' recorded ones (`replay`)."""

    def __init__(self, injection: Injection, parts, steps, recorder=None, replay=None):
        self.injection, self.parts, self.steps = injection, parts, steps
        self.recorder, self.replay = recorder, replay

    def active(self, step: int, num_steps: int) -> bool:
        return in_window(step, num_steps, self.steps)

    def applies(self, call, state) -> bool:
        return (call.layer.kind != "cross" and state.network_pass is Pass.SAMPLE and call.grid == self.injection.grid
                and call.layer.within(self.parts) and self.active(state.step, state.num_steps))

    def __call__(self, call, output: torch.Tensor, state) -> torch.Tensor:
        """The layer's projected output (B, T, C) with its conditional half injected."""
        with region(INJECTION):
            layout, key = state.layout, (call.layer.name, state.step)
            split = layout.split(output).clone()  # (chunks, n, T, C)
            cond = split[-1]
            if self.replay is not None:
                sources = self.replay.out(key, output.device)
            else:
                sources = cond.clone()  # sources are the outputs before any injection
                if self.recorder is not None:
                    self.recorder.record_out(key, sources)
            cond.copy_(inject(cond, sources, self.injection.match, self.injection.alpha))
            return layout.merge(split)
