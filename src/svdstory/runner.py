"""Run a story for the CLI: a progress bar, the anchors+extras path, and out-of-memory advice."""
from __future__ import annotations

from dataclasses import asdict

import torch
from tqdm.auto import tqdm

from .errors import SvdStoryError
from .generate import StoryResult, generate, generate_anchors, generate_more


def run_story(model, story, method, options, sampling, anchors_first: bool = False) -> StoryResult:
    # disable=None: a bar only on a terminal, so logs and captured stderr keep one line per message
    bar = tqdm(unit="step", desc=f"{method}: {len(story.scenes)} images", leave=False, disable=None)
    callback = lambda info: bar.update(1)
    try:
        if not anchors_first:
            return generate(model, story, method, options, sampling, callback)
        n_anchors = _n_anchors(method, options)
        subject = generate_anchors(model, story.with_scenes(story.scenes[:n_anchors], story.seeds[:n_anchors]),
                                   method, options, sampling, callback)
        rest = story.scenes[n_anchors:]
        if not rest:
            return subject.anchors
        seeds = story.image_seeds(sampling.seed)[n_anchors:]
        more = generate_more(subject, rest, seeds, callback)
        a = subject.anchors
        masks = None if a.masks is None else a.masks + more.masks
        info = {**a.info, "story": asdict(story), "anchors_first": True}  # the anchors' info names only their scenes
        return StoryResult(a.images + more.images, masks, a.prompts + more.prompts, a.seeds + more.seeds, info)
    except torch.OutOfMemoryError:
        raise SvdStoryError(
            f"out of GPU memory with {len(story.scenes)} images in one batch: use fewer scenes, --anchors-first, "
            "offload the anchor cache with --set cache_device=cpu, or --dtype float16") from None
    finally:
        bar.close()


def _n_anchors(method, options) -> int:
    from .generate import method_config

    _, config = method_config(method, options)
    return getattr(config, "n_anchors", 0) or 2  # 0 means "every image" in a batch; split at 2
