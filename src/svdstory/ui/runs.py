"""Generate, compare and more scenes on the one loaded model, through generate.py (`run_anchors_first_with`,
`run_from_photo_with`, `run_more`), with progress over every sampler step and a stop when the page that asked has gone."""
from __future__ import annotations

import copy
import threading
from dataclasses import asdict

from ..generate import count_steps_with, extra_steps, run_anchors_first_with, run_from_photo_with, run_more
from ..preflight import tokenizers_of
from ..progress import StepCounter
from ..resolve import method_config, resolve_sampling
from ..results import StoryRun
from .form import Request


class PageClosed(Exception):
    """The page that asked for a run has gone: its run stops at the next sampler step."""


class Host:
    """The model every page shares: one run at a time, whatever the queue allows, each open page's runs, and
    stops for closed pages."""

    def __init__(self, model):
        self.model = model
        # Checks run beside a generation; tokenizers of their own keep them off the running ones.
        self.tokenizers = [copy.deepcopy(t) for t in tokenizers_of(model)]
        self.lock = threading.Lock()
        # A page's runs hold their anchor caches: on SDXL, keys and values of every attention layer at every
        # step, gigabytes of GPU memory per page. Gradio keeps a closed page's gr.State for an hour, so the
        # runs live here instead and go the moment their page closes.
        self._runs: dict[str, list[StoryRun]] = {}
        self._closed: set[str] = set()
        self._pages = threading.Lock()

    def runs(self, page: str | None) -> list[StoryRun]:
        """The page's runs (one per method shown), or none."""
        return self._runs.get(page, [])

    def keep(self, page: str | None, runs: list[StoryRun]) -> None:
        """Hold `runs` as the page's, for its more scenes and overlays; a page closed meanwhile keeps nothing."""
        with self._pages:
            if page is not None and page not in self._closed:
                self._runs[page] = runs

    def close_page(self, page: str | None) -> None:
        """Stop the page's run at its next step and release its runs (their anchor caches)."""
        if page is not None:
            with self._pages:
                self._closed.add(page)
                self._runs.pop(page, None)

    def is_closed(self, page: str | None) -> bool:
        return page in self._closed

    def steps(self, total: int, report, page: str | None) -> StepCounter:
        """The sampler callback of one request: progress over all its steps, and a stop once its page closes."""

        def check():
            if self.is_closed(page):
                raise PageClosed()

        return StepCounter(total, report, check)


def story_columns(host: Host, request: Request, methods, report=None, page=None) -> list[StoryRun]:
    """The request's story under each (method, options) of `methods`, same seeds: one run each, every scene in
    its anchor batch (the same images as one batch), kept as the page's runs. With a reference photo each method
    that takes one runs against it; one that cannot (vanilla, compared beside it) runs from the text alone."""
    model, story = host.model, request.story
    sampling = resolve_sampling(model, request.sampling)
    resolved = [method_config(method, options, model.backbone) for method, options in methods]  # once per run
    photo = lambda method: request.reference if method.reference else None  # noqa: E731
    total = sum(count_steps_with(model, story, method, config, sampling, reference=photo(method))
                for method, config in resolved)
    steps = host.steps(total, report, page)
    with host.lock:
        runs = [run_from_photo_with(model, story, method, config, sampling, photo(method), steps) if photo(method)
                else run_anchors_first_with(model, story, method, config, sampling, len(story.scenes), steps)
                for method, config in resolved]
    host.keep(page, runs)
    return runs


def more_scenes(host: Host, runs: list[StoryRun], scenes, report=None, page=None) -> list[StoryRun]:
    """Extra scenes for every run against its cached anchors; seeds go on from the last image's."""
    scenes = list(scenes)
    first = max(runs[0].result.seeds) + 1
    seeds = list(range(first, first + len(scenes)))
    steps = host.steps(sum(extra_steps(run, len(scenes)) for run in runs), report, page)
    with host.lock:
        runs = [run_more(run, scenes, seeds, steps) for run in runs]
    host.keep(page, runs)
    return runs


def compare_options(chosen_config, compare_method: str) -> dict:
    """The compared method's defaults, on the chosen method's sampler where both have one (same noise path)."""
    from ..methods.options import describe

    names = {option.name for option in describe(compare_method)}
    scheduler = asdict(chosen_config).get("scheduler")
    return {"scheduler": scheduler} if scheduler is not None and "scheduler" in names else {}
