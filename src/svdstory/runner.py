"""Run a story with progress: every sampler step of every pass a method makes, the anchors+extras
path, and out-of-memory advice. The CLI and the web UI both run stories through here."""
from __future__ import annotations

from dataclasses import asdict
from typing import Callable

import torch

from .config import SamplingConfig
from .errors import SvdStoryError
from .generate import StoryResult, generate, generate_anchors, generate_more, method_config, resolve_sampling

Progress = Callable[[int, int], None]  # progress(done, total): (0, total) first, then after each sampler step


def count_steps(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
                anchors_first: bool = False) -> int:
    """The sampler steps `run_story` will make with these arguments: a progress bar's total.

    A step is one call of the sampler loop's callback; methods with several passes (ConsiStory's pre-pass
    and main pass) count each pass's steps, and anchors-first counts the anchor batch and every extra image.
    """
    method_obj, config = method_config(method, options)
    steps = resolve_sampling(model, sampling or SamplingConfig()).steps
    return method_obj.count_steps(model, config, steps) * _runs(story, config, anchors_first)


def run_story(model, story, method: str, options=None, sampling: SamplingConfig | None = None,
              anchors_first: bool = False, progress: Progress | None = None) -> StoryResult:
    """Generate a story, in one batch or anchors first (then each other scene alone against them).

    `options`: a method config or a dict / list of `key=value` overrides. `progress(done, total)` is called
    with done=0 before the first step, then after every sampler step; `total` is `count_steps(...)` and the
    last call has `done == total`.
    """
    sampling = sampling or SamplingConfig()
    callback = None
    if progress is not None:
        total, done = count_steps(model, story, method, options, sampling, anchors_first), [0]

        def callback(info):
            done[0] += 1
            progress(done[0], total)

        progress(0, total)
    try:
        if not anchors_first:
            return generate(model, story, method, options, sampling, callback)
        return _anchors_first(model, story, method, options, sampling, callback)
    except torch.OutOfMemoryError:
        raise SvdStoryError(
            f"out of GPU memory with {len(story.scenes)} images in one batch: use fewer scenes, --anchors-first, "
            "offload the anchor cache with --set cache_device=cpu, or --dtype float16") from None


def _anchors_first(model, story, method, options, sampling, callback) -> StoryResult:
    n = n_anchors(method_config(method, options)[1])
    subject = generate_anchors(model, story.with_scenes(story.scenes[:n], story.seeds[:n]), method, options,
                               sampling, callback)
    rest = story.scenes[n:]
    if not rest:
        return subject.anchors
    more = generate_more(subject, rest, story.image_seeds(sampling.seed)[n:], callback)
    a = subject.anchors
    masks = None if a.masks is None else a.masks + more.masks
    info = {**a.info, "story": asdict(story), "anchors_first": True}  # the anchors' info names only their scenes
    return StoryResult(a.images + more.images, masks, a.prompts + more.prompts, a.seeds + more.seeds, info)


def n_anchors(config) -> int:
    """Images in the anchor batch of an anchors-first run."""
    return getattr(config, "n_anchors", 0) or 2  # 0 means "every image" in a batch; split at 2


def _runs(story, config, anchors_first: bool) -> int:
    return 1 if not anchors_first else 1 + max(0, len(story.scenes) - n_anchors(config))


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
