"""Run a story with progress: every sampler step of every pass a method makes, the anchors + extras path
(an anchor batch, then scenes one at a time against its cached anchors), and out-of-memory advice. The CLI
and the web UI both run stories through here."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .config import SamplingConfig
from .errors import SvdStoryError
from .generate import (StoryResult, Subject, generate, generate_anchors, generate_from_photo, generate_more,
                       method_config, resolve_sampling)
from .story import Story

Progress = Callable[[int, int], None]  # progress(done, total): (0, total) first, then after each sampler step


class StepCounter:
    """A sampler callback that counts the steps of a whole request and reports `progress(done, total)`: (0, total)
    at once, then after every step. `check()`, if given, runs before each step is counted and may raise to stop."""

    def __init__(self, total: int, progress: Progress | None = None, check: Callable[[], None] | None = None):
        self.done, self.total, self.progress, self.check = 0, total, progress, check
        if progress is not None:
            progress(0, total)  # the total shows before the first step, which may be slow to come

    def __call__(self, info) -> None:
        if self.check is not None:
            self.check()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class StoryRun:
    """A story made anchors first: its images so far, and the subject (anchors and cache) that more scenes reuse."""

    subject: Subject  # the anchor batch's story, method, config, resolved sampling and cache
    result: StoryResult  # the anchor batch's images, then every extra scene's
    story: Story  # every scene so far; seeds as given (none: the run's seed + the image's index)

    @property
    def method(self) -> str:
        return self.subject.method.name


def count_steps(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
                anchors_first: bool = False, anchor_batch: int | None = None, reference=None) -> int:
    """The sampler steps `run_story` will make with these arguments: a progress bar's total.

    A step is one call of the sampler loop's callback; methods with several passes (ConsiStory's pre-pass
    and main pass) count each pass's steps, and anchors-first counts the anchor batch and every extra image.
    """
    method_obj, config = method_config(method, options, model.backbone)
    sampling = resolve_sampling(model, sampling or SamplingConfig())
    if reference is not None:  # the photo's inversion, its anchor pass, then every scene alone
        return sampling.steps + method_obj.count_steps(model, config, sampling) * (1 + len(story.scenes))
    runs = 1 if not anchors_first else 1 + max(0, len(story.scenes) - (anchor_batch or config.anchor_batch))
    return method_obj.count_steps(model, config, sampling) * runs


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
    sampling = sampling or SamplingConfig()
    callback = None
    if progress is not None:
        callback = StepCounter(count_steps(model, story, method, options, sampling, anchors_first, anchor_batch,
                                           reference), progress)
    if reference is not None:
        return run_from_photo(model, story, method, options, sampling, reference, callback).result
    if anchors_first:
        return run_anchors_first(model, story, method, options, sampling, anchor_batch, callback).result
    with memory_advice(len(story.scenes)):
        return generate(model, story, method, options, sampling, callback)


def run_anchors_first(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
                      anchor_batch: int | None = None, callback=None) -> StoryRun:
    """The first `anchor_batch` scenes (default: the method's anchors) as one batch whose anchors are cached,
    then every other scene alone against them: less memory than one batch, and a run that takes more scenes."""
    sampling = sampling or SamplingConfig()
    n = anchor_batch or method_config(method, options)[1].anchor_batch
    with memory_advice(min(n, len(story.scenes))):
        subject = generate_anchors(model, story.with_scenes(story.scenes[:n], story.seeds[:n]), method, options,
                                   sampling, callback)
    return run_more(StoryRun(subject, subject.anchors, subject.story), story.scenes[n:], story.seeds[n:], callback)


def run_from_photo(model, story, method: str, options, sampling: SamplingConfig | None, reference,
                   callback=None) -> StoryRun:
    """The story made against a photo of its subject (reference.Reference): the photo's anchor pass, then every
    scene alone against it; a run that takes more scenes as `run_anchors_first`'s does."""
    with memory_advice(1):
        subject, result = generate_from_photo(model, story, method, options, sampling, callback, reference)
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


class TerminalBar:
    """A progress(done, total) drawn as a bar with an ETA on a terminal, and nothing when output is not one."""

    def __init__(self, desc: str, unit: str = "step"):
        self.desc, self.unit, self.bar = desc, unit, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=self.desc, total=total, unit=self.unit, leave=False, disable=None)  # None: TTY only
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
