"""Each class's size and footprint in its own frame, measured once by drawing it, so that layouts
can give every class a comparable image area and keep it inside the picture."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from svdstory.world.frame import Frame
from svdstory.world.labels import Pose
from svdstory.world.subject import draw_subject

_SIZE, _UNIT = 160, 50.0  # measuring canvas: big enough for every class at this scale, with headwear
# The extremes of each articulation, in two opposite combinations, and the rest pose.
_POSES = (Pose(), Pose(1, 1, 1, 1), Pose(-1, -1, -1, -1), Pose(1, -1, 1, -1), Pose(-1, 1, -1, 1))


@dataclass(frozen=True)
class Extent:
    area: float   # mean subject area without accessory, in square frame units
    u0: float     # bounding box over poses and accessories, frame units, facing right
    u1: float
    v0: float
    v1: float

    @property
    def width(self) -> float:
        return self.u1 - self.u0

    @property
    def height(self) -> float:
        return self.v1 - self.v0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.u0 + self.u1) / 2, (self.v0 + self.v1) / 2


@functools.lru_cache(maxsize=None)
def extent(subject: str, world: int = 1, view: str = "side") -> Extent:
    """The class's extent as drawn by `world` in `view` (subject.DRAWERS)."""
    frame = Frame(_SIZE / 2, _SIZE / 2, _UNIT, 1.0)
    areas, union = [], np.zeros((_SIZE, _SIZE), dtype=bool)
    for pose, accessory in itertools.product(_POSES, ("none", "hat", "crown")):
        attributes = {"color": "red", "pattern": "plain", "accessory": accessory, "eyes": "round"}
        mask = draw_subject(_SIZE, frame, subject, attributes, pose, world, view).mask
        union |= mask
        if accessory == "none":
            areas.append(mask.sum())
    rows, cols = np.nonzero(union)
    to_unit = lambda px: (px - _SIZE / 2) / _UNIT  # noqa: E731
    return Extent(area=float(np.mean(areas)) / _UNIT**2, u0=to_unit(cols.min()), u1=to_unit(cols.max() + 1),
                  v0=to_unit(rows.min()), v1=to_unit(rows.max() + 1))
