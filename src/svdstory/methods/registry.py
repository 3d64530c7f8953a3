"""Methods register themselves by name: later methods plug in without touching the pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import SvdStoryError


def one_pass(model, config, sampling) -> int:
    """Sampler steps of a method that denoises once per run: the run's steps."""
    return sampling.steps


def story_prompts(story) -> list[str]:
    """What the text encoder reads for a method that encodes each scene's prompt."""
    return story.prompts


def story_conditioning(model, story, sampling, config, cache=None):
    """Each scene's prompt encoded, with the sampling's guidance and negative prompt."""
    from ..sampling import encode_prompts

    return encode_prompts(model, story.prompts, sampling.guidance, sampling.negative_prompt)


@dataclass(frozen=True)
class Method:
    """A consistency method: a typed config and the functions that run it."""

    name: str
    config: type  # frozen dataclass of the method's options, with documented defaults
    run: Callable  # run(ctx, config) -> RunOutput: the whole story in one batch
    run_anchors: Callable | None = None  # run_anchors(ctx, config) -> (RunOutput, cache)
    run_extra: Callable | None = None  # run_extra(ctx, config, cache) -> RunOutput: one more image
    summary: str = ""
    # count_steps(model, config, sampling) -> sampler steps (callback calls) of one run, run_anchors or
    # run_extra, every pass included: what a progress bar's total is made of
    count_steps: Callable = one_pass
    prompts: Callable = story_prompts  # prompts(story) -> every text the method encodes (checked to fit)
    # conditioning(model, story, sampling, config, cache) -> the run's Conditioning (cache: the anchors'
    # cache for an extra image, else None)
    conditioning: Callable = story_conditioning
    # a photo may stand in for its anchors: run_anchors runs along the photo's inverted path, and takes
    # recorder= (anchors.AnchorRecorder), which a subject mask of the photo filters
    reference: bool = False


_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    _METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method registered with `register` (a plug-in's, or a test's)."""
    _METHODS.pop(name, None)


def get_method(name: str) -> Method:
    """The method registered as `name`; a built-in one is imported on first use."""
    from . import load_builtin

    load_builtin(name)  # a no-op for a name that is not built in, or already imported
    if name not in _METHODS:
        raise SvdStoryError(f"unknown method {name!r} (known: {', '.join(method_names())})")
    return _METHODS[name]


def method_names() -> list[str]:
    """Built-in and registered methods, without importing the built-in ones."""
    from .configs import BUILTIN

    return sorted(set(BUILTIN) | set(_METHODS))
