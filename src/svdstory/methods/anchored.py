"""What every method with anchors does alike: which images are anchors, and a recorder of them for extras."""
from __future__ import annotations

from ..anchors import AnchorRecorder


def anchor_indices(n_images: int, n_anchors: int) -> list[int]:
    """The first n_anchors images (all of them for 0)."""
    return list(range(n_images if n_anchors == 0 else min(n_anchors, n_images)))


def cache_device(config) -> str | None:
    """Where the anchor cache lives: "cpu" offloads it; None keeps it where the anchors ran."""
    return "cpu" if config.cache_device == "cpu" else None


def anchor_recorder(config) -> AnchorRecorder:
    """A recorder of what extra images will need from the anchors, its cache where the config keeps it."""
    return AnchorRecorder(cache_device(config))
