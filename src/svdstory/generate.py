"""The Python API: a story in one batch (`generate`), or anchors first and more scenes later (`generate_anchors`,
`generate_more`); with progress over every sampler step of every pass a method makes, the anchors + extras path
(an anchor batch, then scenes one at a time against its cached anchors) and out-of-memory advice (`run_story`,
`run_anchors_first`, `run_more`); a story against a photo of its subject (`reference=`, `run_from_photo`). The
command line and the web UI run stories through here.

Each function that takes a method's name resolves it, its options and the sampling settings once (`resolve.py`)
and calls its `*_with` twin, which takes those objects."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, replace

import torch

from .errors import SvdStoryError
from .preflight import check_story_prompts, tokenizers_of
from .progress import Progress, StepCounter
from .resolve import resolve
from .results import StoryResult, StoryRun, Subject, run_info, story_result
from .sampling import RunContext, initial_latents
from .settings import SamplingConfig
from .story import Story


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


def generate(model, story: Story, method: str = "consistory", options=None,
             sampling: SamplingConfig | None = None, callback=None, reference=None) -> StoryResult:
    """All scenes of a story in one batch. `options`: a method config or a dict of overrides.

    With a `reference` (reference.Reference: a photo of the subject) the photo is the story's anchor, and every
    scene is made against it, one at a time."""
    return generate_with(model, story, *resolve(model, method, options, sampling), callback, reference)


def generate_with(model, story: Story, method, config, sampling: SamplingConfig, callback=None,
                  reference=None) -> StoryResult:
    """`generate` with the method, its config and the sampling settings resolved (`resolve`)."""
    if reference is not None:
        return generate_from_photo_with(model, story, method, config, sampling, callback, reference)[1]
    check_story_prompts(tokenizers_of(model), story, method, sampling.negative_prompt)
    ctx = build_context(model, story, sampling, method, config, callback)
    return story_result(ctx, method.run(ctx, config), run_info(model, story, method, config, sampling))


def generate_anchors(model, story: Story, method: str = "consistory", options=None,
                     sampling: SamplingConfig | None = None, callback=None, reference=None) -> Subject:
    """Generate the story's anchor images once and cache what later images need; with a `reference`
    (reference.Reference) the photo is the anchor, its inverted path what the anchor pass runs along."""
    return generate_anchors_with(model, story, *resolve(model, method, options, sampling), callback, reference)


def generate_anchors_with(model, story: Story, method, config, sampling: SamplingConfig, callback=None,
                          reference=None) -> Subject:
    """`generate_anchors` with the method, its config and the sampling settings resolved."""
    if method.run_anchors is None:
        raise SvdStoryError(f"method {method.name!r} has no anchors+extras mode")
    check_story_prompts(tokenizers_of(model), story, method, sampling.negative_prompt)
    if reference is not None:
        from .reference.anchor import photo_anchor

        out, cache, ctx, photo = photo_anchor(model, story, sampling, method, config, reference, callback)
        info = {**run_info(model, story, method, config, sampling), "reference": reference.record()}
        return Subject(model, story, method, config, sampling, cache, story_result(ctx, out, info), photo)
    ctx = build_context(model, story, sampling, method, config, callback)
    out, cache = method.run_anchors(ctx, config)
    anchors = story_result(ctx, out, run_info(model, story, method, config, sampling))
    return Subject(model, story, method, config, sampling, cache, anchors)


def generate_from_photo(model, story: Story, method: str, options, sampling: SamplingConfig | None, callback,
                        reference) -> tuple[Subject, StoryResult]:
    """(the photo as a reusable subject, every scene of the story made against it, one at a time)."""
    return generate_from_photo_with(model, story, *resolve(model, method, options, sampling), callback, reference)


def generate_from_photo_with(model, story: Story, method, config, sampling: SamplingConfig, callback,
                             reference) -> tuple[Subject, StoryResult]:
    """`generate_from_photo` with the method, its config and the sampling settings resolved."""
    subject = generate_anchors_with(model, story, method, config, sampling, callback, reference)
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
        info = run_info(subject.model, one, subject.method, subject.config, subject.sampling)
        results.append(story_result(ctx, out, info))
    images = [img for r in results for img in r.images]
    masks = None if results[0].masks is None else [m for r in results for m in r.masks]
    maps = None if results[0].maps is None else torch.cat([r.maps for r in results])
    info = {**results[0].info, "story": asdict(story)}  # every extra scene, not only the first one's
    if subject.photo is not None:
        info["reference"] = subject.anchors.info["reference"]
    return StoryResult(images, masks, [p for r in results for p in r.prompts], list(seeds), info, maps,
                       subject.photo)


def count_steps(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
                anchors_first: bool = False, anchor_batch: int | None = None, reference=None) -> int:
    """The sampler steps `run_story` will make with these arguments: a progress bar's total.

    A step is one call of the sampler loop's callback; methods with several passes (ConsiStory's pre-pass
    and main pass) count each pass's steps, and anchors-first counts the anchor batch and every extra image.
    """
    return count_steps_with(model, story, *resolve(model, method, options, sampling), anchors_first, anchor_batch,
                            reference)


def count_steps_with(model, story, method, config, sampling: SamplingConfig, anchors_first: bool = False,
                     anchor_batch: int | None = None, reference=None) -> int:
    """`count_steps` with the method, its config and the sampling settings resolved."""
    if reference is not None:  # the photo's inversion, its anchor pass, then every scene alone
        return sampling.steps + method.count_steps(model, config, sampling) * (1 + len(story.scenes))
    runs = 1 if not anchors_first else 1 + max(0, len(story.scenes) - (anchor_batch or config.anchor_batch))
    return method.count_steps(model, config, sampling) * runs


def extra_steps(run: StoryRun, n_scenes: int) -> int:
    """The sampler steps `run_more` makes for `n_scenes` more scenes: one run of the method each."""
    subject = run.subject
    return subject.method.count_steps(subject.model, subject.config, subject.sampling) * n_scenes


def run_story(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
              anchors_first: bool = False, progress: Progress | None = None,
              anchor_batch: int | None = None, reference=None) -> StoryResult:
    """Generate a story, in one batch or anchors first (see `run_anchors_first`).

    `options`: a method config or a dict / list of `key=value` overrides. `progress(done, total)` is called
    with done=0 before the first step, then after every sampler step; `total` is `count_steps(...)` and the
    last call has `done == total`. `reference` (reference.Reference): a photo of the subject as the anchor.
    """
    return run_story_with(model, story, *resolve(model, method, options, sampling), anchors_first, progress,
                          anchor_batch, reference)


def run_story_with(model, story, method, config, sampling: SamplingConfig, anchors_first: bool = False,
                   progress: Progress | None = None, anchor_batch: int | None = None,
                   reference=None) -> StoryResult:
    """`run_story` with the method, its config and the sampling settings resolved (`resolve`): what the command
    line runs."""
    callback = None
    if progress is not None:
        callback = StepCounter(count_steps_with(model, story, method, config, sampling, anchors_first, anchor_batch,
                                                reference), progress)
    if reference is not None:
        return run_from_photo_with(model, story, method, config, sampling, reference, callback).result
    if anchors_first:
        return run_anchors_first_with(model, story, method, config, sampling, anchor_batch, callback).result
    with memory_advice(len(story.scenes)):
        return generate_with(model, story, method, config, sampling, callback)


def run_anchors_first(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
                      anchor_batch: int | None = None, callback=None) -> StoryRun:
    """The first `anchor_batch` scenes (default: the method's anchors) as one batch whose anchors are cached,
    then every other scene alone against them: less memory than one batch, and a run that takes more scenes."""
    return run_anchors_first_with(model, story, *resolve(model, method, options, sampling), anchor_batch, callback)


def run_anchors_first_with(model, story, method, config, sampling: SamplingConfig,
                           anchor_batch: int | None = None, callback=None) -> StoryRun:
    """`run_anchors_first` with the method, its config and the sampling settings resolved."""
    n = anchor_batch or config.anchor_batch
    with memory_advice(min(n, len(story.scenes))):
        anchors = story.with_scenes(story.scenes[:n], story.seeds[:n])
        subject = generate_anchors_with(model, anchors, method, config, sampling, callback)
    return run_more(StoryRun(subject, subject.anchors, subject.story), story.scenes[n:], story.seeds[n:], callback)


def run_from_photo(model, story, method: str, options, sampling: SamplingConfig | None, reference,
                   callback=None) -> StoryRun:
    """The story made against a photo of its subject (reference.Reference): the photo's anchor pass, then every
    scene alone against it; a run that takes more scenes as `run_anchors_first`'s does."""
    return run_from_photo_with(model, story, *resolve(model, method, options, sampling), reference, callback)


def run_from_photo_with(model, story, method, config, sampling: SamplingConfig, reference,
                        callback=None) -> StoryRun:
    """`run_from_photo` with the method, its config and the sampling settings resolved."""
    with memory_advice(1):
        subject, result = generate_from_photo_with(model, story, method, config, sampling, callback, reference)
    return StoryRun(subject, result, story)


def run_more(run: StoryRun, scenes, seeds=(), callback=None) -> StoryRun:
    """The run with more scenes, each made alone against its cached anchors: one result whose run.json names
    every scene and the anchor batch, so `svdstory rerun` repeats it. Seeds default to the run's seed plus
    each image's index in the whole story."""
    scenes, seeds = list(scenes), list(seeds)
    if not scenes:
        return run
    so_far = run.result
    sampling = run.subject.sampling
    explicit = bool(run.story.seeds or seeds)
    seeds = seeds or [sampling.seed + len(so_far.images) + i for i in range(len(scenes))]
    with memory_advice(1):
        more = generate_more(run.subject, scenes, seeds, callback)
    story = run.story.with_scenes(run.story.scenes + tuple(scenes), (*so_far.seeds, *seeds) if explicit else ())
    masks = None if so_far.masks is None else so_far.masks + more.masks
    maps = None if so_far.maps is None else torch.cat([so_far.maps, more.maps])
    info = {**so_far.info, "story": asdict(story), "anchors_first": True,
            "anchor_batch": len(run.subject.story.scenes)}
    result = StoryResult(so_far.images + more.images, masks, so_far.prompts + more.prompts, so_far.seeds + more.seeds,
                         info, maps, so_far.photo)
    return StoryRun(run.subject, result, story)


@contextmanager
def memory_advice(batch: int):
    """Out of GPU (or CPU) memory as one line of what to change, the same for the command line and the web UI."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise SvdStoryError(_out_of_memory("GPU memory", batch)) from None
    except RuntimeError as err:
        if "can't allocate memory" not in str(err):  # torch's CPU allocator says so in a plain RuntimeError
            raise
        raise SvdStoryError(_out_of_memory("memory", batch)) from None


def _out_of_memory(what: str, batch: int) -> str:
    images = f"{batch} image{'s' if batch != 1 else ''}"
    return (f"out of {what} with {images} in one batch: use fewer scenes, --anchors-first, offload the anchor "
            "cache with --set cache_device=cpu, or --dtype float16")  # the web page says it in its words
