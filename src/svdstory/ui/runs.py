"""Generate, compare and more scenes on the one loaded model, through the API (`generate_anchors`,
`generate_more`), with progress over every sampler step and a stop when the page that asked has gone."""
from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass

from ..generate import StoryResult, Subject, generate_anchors, generate_more
from ..preflight import tokenizers_of
from ..runner import count_steps
from .form import Request


class PageClosed(Exception):
    """The page that asked for a run has gone: its run stops at the next sampler step."""


@dataclass
class Column:
    """One method's images of the story so far, and its anchors, which more scenes reuse."""

    subject: Subject
    result: StoryResult  # the anchors' batch, then every extra scene

    @property
    def method(self) -> str:
        return self.subject.method.name


class Host:
    """The model every page shares: one run at a time, whatever the queue allows, and stops for closed pages."""

    def __init__(self, model):
        self.model = model
        # Checks run beside a generation; tokenizers of their own keep them off the running ones.
        self.tokenizers = [copy.deepcopy(t) for t in tokenizers_of(model)]
        self.lock = threading.Lock()
        self._closed: set[str] = set()

    def close_page(self, page: str | None) -> None:
        if page is not None:
            self._closed.add(page)

    def is_closed(self, page: str | None) -> bool:
        return page in self._closed


class Steps:
    """The sampler callback of a whole request: counts steps over every run and pass, reports, stops."""

    def __init__(self, total: int, report=None, stop=lambda: False):
        self.done, self.total, self.report, self.stop = 0, total, report, stop
        if report is not None:
            report(0, total)  # the bar shows its total before the first step, which may be slow to come

    def __call__(self, info) -> None:
        if self.stop():
            raise PageClosed()
        self.done += 1
        if self.report is not None:
            self.report(self.done, self.total)


def story_columns(host: Host, request: Request, methods, report=None, page=None) -> list[Column]:
    """The request's story under each (method, options) of `methods`, same seeds: one column each."""
    model, story, sampling = host.model, request.story, request.sampling
    total = sum(count_steps(model, story, method, options, sampling) for method, options in methods)
    steps = Steps(total, report, lambda: host.is_closed(page))
    with host.lock:
        columns = []
        for method, options in methods:
            subject = generate_anchors(model, story, method, options, sampling, steps)
            columns.append(Column(subject, subject.anchors))
        return columns


def more_scenes(host: Host, columns: list[Column], scenes, report=None, page=None) -> list[Column]:
    """Extra scenes for every column against its cached anchors; seeds go on from the last image's."""
    scenes = list(scenes)
    first = max(columns[0].result.seeds) + 1
    seeds = list(range(first, first + len(scenes)))
    total = sum(len(scenes) * _extra_steps(host.model, column) for column in columns)
    steps = Steps(total, report, lambda: host.is_closed(page))
    with host.lock:
        return [Column(c.subject, combine(c.result, generate_more(c.subject, scenes, seeds, steps)))
                for c in columns]


def _extra_steps(model, column: Column) -> int:
    """Sampler steps of one extra image: one run of the method on a one-scene story."""
    subject = column.subject
    one = subject.story.with_scenes(subject.story.scenes[:1])
    return count_steps(model, one, column.method, subject.config, subject.sampling)


def combine(first: StoryResult, more: StoryResult) -> StoryResult:
    """A story's images so far and the extra ones, as one result whose info names every scene."""
    masks = None if first.masks is None or more.masks is None else first.masks + more.masks
    story = first.info["story"]
    scenes = list(story["scenes"]) + list(more.info["story"]["scenes"])
    info = {**first.info, "story": {**story, "scenes": scenes, "seeds": first.seeds + more.seeds}}
    return StoryResult(first.images + more.images, masks, first.prompts + more.prompts, first.seeds + more.seeds,
                       info)


def compare_options(chosen_config, compare_method: str) -> dict:
    """The compared method's defaults, on the chosen method's sampler where both have one (same noise path)."""
    from ..methods.options import describe

    names = {option.name for option in describe(compare_method)}
    scheduler = asdict(chosen_config).get("scheduler")
    return {"scheduler": scheduler} if scheduler is not None and "scheduler" in names else {}
