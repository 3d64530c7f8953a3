"""What every method with anchors does alike: which images are anchors, and recording them for extras."""
from __future__ import annotations

from ..anchors import AnchorRecorder


def anchor_indices(n_images: int, n_anchors: int) -> list[int]:
    """The first n_anchors images (all of them for 0)."""
    return list(range(n_images if n_anchors == 0 else min(n_anchors, n_images)))


def cache_device(config) -> str | None:
    """Where the anchor cache lives: "cpu" offloads it; None keeps it where the anchors ran."""
    return "cpu" if config.cache_device == "cpu" else None


def recording_anchors(run):
    """run_anchors(ctx, config, recorder=None) -> (RunOutput, AnchorCache) from a run(ctx, config, recorder=...)
    that records what extra images need as the anchors run (into `recorder`, else a new AnchorRecorder)."""

    def run_anchors(ctx, config, recorder=None):
        recorder = recorder or AnchorRecorder(cache_device(config))
        return run(ctx, config, recorder=recorder), recorder.cache

    return run_anchors
