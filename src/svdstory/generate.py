"""The Python API: generate a story at once, or anchors first and more images later."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import torch

from .config import SamplingConfig, apply_overrides
from .context import RunContext, RunOutput
from .errors import SvdStoryError
from .limits import check_largest
from .masks import binarize
from .methods.registry import get_method
from .preflight import check_backbone, check_size, check_story_prompts, tokenizers_of
from .sampling import initial_latents
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


def resolve_sampling(model, sampling: SamplingConfig) -> SamplingConfig:
    """The settings with the model's defaults filled in, checked against what the model allows."""
    defaults = {**model.backbone.defaults, **(model.defaults or {})}  # a folder's own svdstory.json wins
    backbone = model.backbone
    height, width = sampling.height or backbone.side, sampling.width or backbone.side
    check_size(backbone.size_factor, height, width)
    check_largest(backbone.side, {"--height": height, "--width": width})
    steps = sampling.steps or defaults.get("steps", 50)
    backbone.check_steps(steps)
    guidance = sampling.guidance if sampling.guidance is not None else defaults.get("guidance", 5.0)
    return replace(sampling, steps=steps, guidance=guidance, height=height, width=width)  # every other as given


def method_config(method_name: str, options=None, backbone=None):
    """The method and its config: `options` is a config, or overrides as a dict or `key=value` strings, over
    the defaults of the method on `backbone` (a model's, if given: `Backbone.option_defaults`)."""
    method = get_method(method_name)
    if type(options) is method.config:
        return method, options
    names = {f.name for f in fields(method.config)}
    defaults = {k: v for k, v in (backbone.option_defaults if backbone else {}).items() if k in names}
    # a config validates itself when it is made (MethodConfig.check)
    return method, apply_overrides(method.config(**defaults), options or {})


def build_context(model, story: Story, sampling: SamplingConfig, method, config, callback=None,
                  cache=None) -> RunContext:
    """The run's fixed inputs; the method encodes its own conditioning (`cache`: an extra image's anchors)."""
    prompts, seeds = story.prompts, story.image_seeds(sampling.seed)
    positions = model.backbone.token_positions(prompts, story.tokens)
    latents = initial_latents(model, seeds, sampling.height, sampling.width, sampling.same_latent)
    cond = method.conditioning(model, story, sampling, config, cache)
    scheduler = None if config.scheduler in (None, "default") else config.scheduler
    return RunContext(model, prompts, seeds, latents, cond, positions, sampling.steps, sampling.guidance,
                      scheduler, callback, story, sampling.attention_chunk, sampling.freeu)


def _result(ctx: RunContext, out: RunOutput, info: dict) -> StoryResult:
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


def _info(model, story, method, config, sampling) -> dict:
    return {"method": method.name, "config": asdict(config), "sampling": asdict(sampling),
            "model": model.source, "revision": model.revision, "device": str(model.device),
            "dtype": str(model.dtype).removeprefix("torch."), "story": asdict(story)}


def generate(model, story: Story, method: str = "consistory", options=None,
             sampling: SamplingConfig | None = None, callback=None, reference=None) -> StoryResult:
    """All scenes of a story in one batch. `options`: a method config or a dict of overrides.

    With a `reference` (reference.Reference: a photo of the subject) the photo is the story's anchor, and every
    scene is made against it, one at a time."""
    if reference is not None:
        return generate_from_photo(model, story, method, options, sampling, callback, reference)[1]
    method_obj = get_method(method)
    check_backbone(method_obj, model.backbone.name)
    method_obj, config = method_config(method, options, model.backbone)
    sampling = resolve_sampling(model, sampling or SamplingConfig())
    check_story_prompts(tokenizers_of(model), story, method_obj, sampling.negative_prompt)
    ctx = build_context(model, story, sampling, method_obj, config, callback)
    out = method_obj.run(ctx, config)
    return _result(ctx, out, _info(model, story, method_obj, config, sampling))


def generate_anchors(model, story: Story, method: str = "consistory", options=None,
                     sampling: SamplingConfig | None = None, callback=None, reference=None) -> Subject:
    """Generate the story's anchor images once and cache what later images need; with a `reference`
    (reference.Reference) the photo is the anchor, its inverted path what the anchor pass runs along."""
    method_obj = get_method(method)
    if method_obj.run_anchors is None:
        raise SvdStoryError(f"method {method!r} has no anchors+extras mode")
    check_backbone(method_obj, model.backbone.name)
    method_obj, config = method_config(method, options, model.backbone)
    sampling = resolve_sampling(model, sampling or SamplingConfig())
    check_story_prompts(tokenizers_of(model), story, method_obj, sampling.negative_prompt)
    if reference is not None:
        from .reference.anchor import photo_anchor

        out, cache, ctx, photo = photo_anchor(model, story, sampling, method_obj, config, reference, callback)
        info = {**_info(model, story, method_obj, config, sampling), "reference": reference.record()}
        return Subject(model, story, method_obj, config, sampling, cache, _result(ctx, out, info), photo)
    ctx = build_context(model, story, sampling, method_obj, config, callback)
    out, cache = method_obj.run_anchors(ctx, config)
    anchors = _result(ctx, out, _info(model, story, method_obj, config, sampling))
    return Subject(model, story, method_obj, config, sampling, cache, anchors)


def generate_from_photo(model, story: Story, method: str, options, sampling: SamplingConfig | None, callback,
                        reference) -> tuple[Subject, StoryResult]:
    """(the photo as a reusable subject, every scene of the story made against it, one at a time)."""
    subject = generate_anchors(model, story, method, options, sampling, callback, reference)
    result = generate_more(subject, story.scenes, story.image_seeds(subject.sampling.seed), callback)
    return subject, replace(result, info={**result.info, "story": asdict(story)})  # the seeds as given


def generate_more(subject: Subject, scenes, seeds=(), callback=None) -> StoryResult:
    """Extra images of a reusable subject, one at a time against the anchor cache."""
    scenes = [scenes] if isinstance(scenes, str) else list(scenes)
    story = subject.story.with_scenes(scenes, seeds)
    base = subject.sampling.seed + len(subject.story.scenes)
    seeds = story.image_seeds(base)
    check_story_prompts(tokenizers_of(subject.model), story, subject.method, subject.sampling.negative_prompt)
    results = []
    for scene, seed in zip(scenes, seeds):
        one = subject.story.with_scenes([scene], [seed])
        ctx = build_context(subject.model, one, subject.sampling, subject.method, subject.config, callback,
                            subject.cache)
        out = subject.method.run_extra(ctx, subject.config, subject.cache)
        results.append(_result(ctx, out, _info(subject.model, one, subject.method, subject.config, subject.sampling)))
    images = [img for r in results for img in r.images]
    masks = None if results[0].masks is None else [m for r in results for m in r.masks]
    maps = None if results[0].maps is None else torch.cat([r.maps for r in results])
    info = {**results[0].info, "story": asdict(story)}  # every extra scene, not only the first one's
    if subject.photo is not None:
        info["reference"] = subject.anchors.info["reference"]
    return StoryResult(images, masks, [p for r in results for p in r.prompts], list(seeds), info, maps,
                       subject.photo)
