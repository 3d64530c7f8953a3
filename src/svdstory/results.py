"""What a run gives back: a story's images, masks and record (`StoryResult`), a reusable subject (`Subject`),
and a story made anchors first (`StoryRun`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from .masks import binarize
from .sampling import RunContext, RunOutput
from .settings import SamplingConfig
from .story import Story


@dataclass
class StoryResult:
    """Images of one story, their subject masks, and everything needed to reproduce them."""

    images: list  # PIL images, one per scene
    masks: list | None  # masks[i][s]: PIL "L" mask of subject s in image i (None for mask-free methods)
    prompts: list[str]
    seeds: list[int]
    info: dict = field(default_factory=dict)  # method, config, sampling settings
    maps: torch.Tensor | None = None  # (n, S, h, w) CPU: the soft subject maps `masks` threshold (Otsu), at their grid
    photo: object = None  # reference.photo.Photo: the photo (and its mask) the story's anchor came from, or None


@dataclass
class Subject:
    """A reusable subject: a story's anchors and the cache that lets extra images share their identity."""

    model: object
    story: Story
    method: object
    config: object
    sampling: SamplingConfig
    cache: object
    anchors: StoryResult  # the anchor images (for a reference photo: the photo as its anchor pass made it)
    photo: object = None  # reference.photo.Photo: the photo (and its mask) that stands in for the anchors, or None


@dataclass(frozen=True)
class StoryRun:
    """A story made anchors first: its images so far, and the subject (anchors and cache) that more scenes reuse."""

    subject: Subject  # the anchor batch's story, method, config, resolved sampling and cache
    result: StoryResult  # the anchor batch's images, then every extra scene's
    story: Story  # every scene so far; seeds as given (none: the run's seed + the image's index)

    @property
    def method(self) -> str:
        return self.subject.method.name


def story_result(ctx: RunContext, out: RunOutput, info: dict) -> StoryResult:
    """The run's latents decoded, its soft subject maps as binary masks at the images' size."""
    images = ctx.decode(out.latents)
    masks = maps = None
    if out.masks is not None:
        size = images[0].size
        binary = binarize(out.masks).float()  # (n, S, h, w)
        up = torch.nn.functional.interpolate(binary, size=(size[1], size[0]), mode="nearest")
        masks = [[_to_pil(m) for m in per_image] for per_image in up]
        maps = out.masks.float().cpu()
    return StoryResult(images, masks, ctx.prompts, ctx.seeds, info, maps)


def _to_pil(mask: torch.Tensor):
    from PIL import Image

    return Image.fromarray((mask.cpu().numpy() * 255).astype("uint8"), mode="L")


def run_info(model, story, method, config, sampling) -> dict:
    """What run.json records of a run: method, config, sampling, model, device, dtype and story."""
    return {"method": method.name, "config": asdict(config), "sampling": asdict(sampling),
            "model": model.source, "revision": model.revision, "device": str(model.device),
            "dtype": str(model.dtype).removeprefix("torch."), "story": asdict(story)}
