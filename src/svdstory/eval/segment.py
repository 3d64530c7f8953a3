"""Subject masks from a transformers image-segmentation model, for methods without masks of their own.

Which segment is the subject: segments whose label contains a subject token ("cat" in "cat"), else
the largest segment that is not scenery (a short list of background labels). Kept simple on purpose:
a named segmenter gives every method the same masks, which matters more than their finesse.
"""
from __future__ import annotations

import numpy as np

from ..errors import SvdStoryError

SCENERY = {"background", "sky", "wall", "floor", "ceiling", "ground", "grass", "sand", "sea", "water", "road",
           "tree", "building", "mountain", "snow", "river", "field", "dirt", "pavement", "fence", "rock",
           "cloud", "table", "house", "plant"}


def _is_scenery(label: str) -> bool:
    words = label.lower().replace("-", " ").replace("_", " ").split()
    return bool(words) and (words[0] in SCENERY or words[-1] in ("stuff", "merged", "other"))


def pick_subject(segments, tokens, size: tuple[int, int]) -> np.ndarray:
    """segments: [{"label": str, "mask": PIL "L"}] of one image -> (H, W) bool subject mask (maybe empty)."""
    from .masking import union_mask

    tokens = [t.lower() for t in tokens]
    named = [s for s in segments if any(t in (s.get("label") or "").lower() for t in tokens)]
    if named:
        return union_mask([s["mask"] for s in named], size)
    things = [union_mask([s["mask"]], size) for s in segments if not _is_scenery(s.get("label") or "")]
    if not things:
        return np.zeros((size[1], size[0]), dtype=bool)
    return max(things, key=lambda m: int(m.sum()))


class Segmenter:
    """`segmenter(images, tokens)` -> per image a list with one subject mask, as the metrics expect."""

    def __init__(self, source: str, device: str = "cpu", pipe=None):
        if pipe is None:
            from transformers import pipeline

            try:
                pipe = pipeline("image-segmentation", model=source, device=device)
            except (OSError, ValueError, KeyError) as err:
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise SvdStoryError(f"--segmenter {source!r} could not be loaded: {first}") from None
        self.pipe = pipe
        self.source = source

    def __call__(self, images, tokens) -> list:
        return [[pick_subject(self.pipe(img.convert("RGB")), tokens, img.size)] for img in images]
