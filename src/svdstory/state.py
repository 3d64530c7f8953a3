"""The per-run state object every attention processor reports to (one per denoising run)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import torch


@dataclass(frozen=True)
class BatchLayout:
    """The UNet batch is `chunks` copies of the images: [uncond x n, cond x n] with guidance."""

    n_images: int  # images denoised together
    cfg: bool  # classifier-free guidance doubles the batch

    @property
    def chunks(self) -> int:
        return 2 if self.cfg else 1

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(self.chunks, self.n_images, *x.shape[1:])  # (chunks, n, ...)

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.chunks * self.n_images, *x.shape[2:])  # (chunks*n, ...)

    def cond(self, x: torch.Tensor) -> torch.Tensor:
        return self.split(x)[-1]


class Pass(Enum):
    """One pass of the denoising network (UNet or transformer) in a sampler step."""

    SAMPLE = "sample"  # the pass whose noise prediction the sampler steps with
    VANILLA = "vanilla"  # an extra pass before it that only records (ConsiStory's vanilla queries)


@dataclass
class RunState:
    """What one denoising run knows; the loop sets `step`, `timestep` and `network_pass` explicitly.

    The run's attention policy reads it through its hooks' `state` argument (it holds no reference to it)."""

    layout: BatchLayout
    num_steps: int
    latent_hw: tuple[int, int]  # latent height and width
    step: int = -1  # index into the scheduler's timesteps
    timestep: int = -1  # the scheduler's timestep value at `step`
    network_pass: Pass = Pass.SAMPLE  # which of the step's network passes runs now
    stop_at: int | None = None  # the loop stops before this step (a partial pre-pass)
    features: dict = field(default_factory=dict)  # network features captured by hooks (DIFT), by name
    attention_chunk: int | None = None  # queries per extended-attention call (None: all at once)

    @property
    def progress(self) -> float:
        """Fraction of the run done at the start of this step, in [0, 1)."""
        return self.step / max(self.num_steps, 1)
