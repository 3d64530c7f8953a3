"""The sampling settings every method runs with (`SamplingConfig`), typed and checked."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SvdStoryError

FREEU_RELEASE = (0.6, 0.4, 1.1, 1.2)  # FreeU's s1, s2, b1, b2 in ConsiStory's SDXL release
SEED_MAX = 2**64 - 1  # torch.Generator.manual_seed takes 0..2**64-1 (negative seeds alias large ones: refused)


def check_seed(value, what: str = "--seed") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SvdStoryError(f"{what} must be a whole number, got {value!r}")
    if not 0 <= value <= SEED_MAX:
        raise SvdStoryError(f"{what} must lie in 0..{SEED_MAX} (what random generators accept), got {value}")


def check_finite(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SvdStoryError(f"{what} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class SamplingConfig:
    """How the denoising loop runs; None means "the model's or the method's default"."""

    steps: int | None = None  # denoising steps
    guidance: float | None = None  # classifier-free guidance scale; <= 1 turns guidance off
    height: int | None = None  # image height in pixels (None: the model's sample size)
    width: int | None = None  # image width in pixels
    seed: int = 0  # image i uses seed + i unless the story lists its own seeds
    same_latent: bool = False  # every image starts from image 0's initial noise
    negative_prompt: str | None = None  # the unconditional prompt; None: the pipeline's own (SDXL: zeros)
    attention_chunk: int | None = None  # queries per extended-attention call, to bound memory
    freeu: tuple[float, float, float, float] | None = None  # FreeU's (s1, s2, b1, b2); None: off

    def __post_init__(self):
        check_seed(self.seed)
        if self.guidance is not None:
            check_finite("--guidance", self.guidance)
        if self.negative_prompt is not None and not isinstance(self.negative_prompt, str):
            raise SvdStoryError(f"the negative prompt must be text, got {self.negative_prompt!r}")
        if self.negative_prompt and self.guidance is not None and self.guidance <= 1:  # it would be dropped unseen
            raise SvdStoryError(f"a negative prompt has no effect at --guidance {self.guidance:g}: guidance of 1 or "
                                "less turns it off")
        if self.freeu is not None:
            if len(self.freeu) != 4:
                raise SvdStoryError(f"--freeu takes four numbers s1,s2,b1,b2, got {self.freeu}")
            for value in self.freeu:
                check_finite("--freeu", value)
        if self.steps is not None and self.steps < 1:
            raise SvdStoryError(f"--steps must be at least 1, got {self.steps}")
        if self.attention_chunk is not None and self.attention_chunk < 1:
            raise SvdStoryError(f"--attention-chunk must be at least 1, got {self.attention_chunk}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and value < 8:
                raise SvdStoryError(f"--{name} must be a positive pixel count, got {value}")


SCHEDULERS = ("default", "ddim")  # names sampling.make_scheduler understands


def check_scheduler(value: str) -> None:
    if value not in SCHEDULERS:
        raise SvdStoryError(f"option scheduler must be one of {', '.join(SCHEDULERS)}, got {value!r}")
