"""Random layouts: where the subject stands, how big it is, which way it faces and how it is posed."""

from __future__ import annotations

import math

import numpy as np

from svdstory.world.catalog import SUBJECTS
from svdstory.world.frame import Frame
from svdstory.world.geometry import extent
from svdstory.world.labels import FACING_SIGNS, POSE_KEYS, view_of

AREA = (0.13, 0.40)  # fraction of the image the subject covers, before fitting it inside
MARGIN = 0.02        # free border around the subject's bounding box, as a fraction of the side


def sample_layout(subject: str, rng: np.random.Generator) -> dict[str, float]:
    """x, y: bounding-box centre (0..1); scale: frame unit / image side; facing: +1 right, -1 left."""
    ext = extent(subject)
    area_u, x_u, y_u = rng.uniform(0.0, 1.0, 3)  # drawn for every class alike, so classes share a seed's layout
    facing = 1.0 if rng.uniform() < 0.5 else -1.0
    pose = rng.uniform(-1.0, 1.0, len(POSE_KEYS))
    fit = (1 - 2 * MARGIN) / max(ext.width, ext.height)  # largest scale that keeps the box inside
    high = min(AREA[1], ext.area * fit**2)
    low = min(AREA[0], high)
    scale = math.sqrt((low + area_u * (high - low)) / ext.area)
    free_x = 1 - 2 * MARGIN - ext.width * scale
    free_y = 1 - 2 * MARGIN - ext.height * scale
    layout = {"x": float(MARGIN + ext.width * scale / 2 + x_u * free_x),
              "y": float(MARGIN + ext.height * scale / 2 + y_u * free_y),
              "scale": float(scale), "facing": facing}
    animal = SUBJECTS[subject] == "animal"
    layout.update({key: float(value) if animal else 0.0 for key, value in zip(POSE_KEYS, pose)})
    return layout


def subject_frame(subject: str, layout: dict[str, float], size: int, world: int = 1) -> Frame:
    """The frame that puts the subject's bounding-box centre at (x, y); a front view is not mirrored."""
    s = layout["scale"] * size
    mirror = -1.0 if layout.get("facing", 1.0) < 0 else 1.0
    cu, cv = extent(subject, world, view_of(layout)).centre
    return Frame(layout["x"] * size - mirror * cu * s, layout["y"] * size - cv * s, s, mirror)


# v2: image-area bands of LAYOUT_ATTRIBUTES["size"], scaled down for a class whose largest fitting
# area, in any of its views, is smaller than the top of the last band (so that a size means the same
# area in every view of a class)
SIZE_BANDS = ((0.06, 0.10), (0.13, 0.19), (0.24, 0.32))
VIEWS_V2 = ("side", "front")


def _fitting_area(subject: str, view: str) -> float:
    """The largest image area the class covers in a v2 `view` with its bounding box inside the margins."""
    ext = extent(subject, 2, view)
    return ext.area * ((1 - 2 * MARGIN) / max(ext.width, ext.height)) ** 2


def staged_layout(subject: str, staging: dict[str, str], rng: np.random.Generator) -> dict[str, float]:
    """A v2 layout that shows the layout attributes `staging` (placement, size, facing); the rest
    (height in the picture, pose, the exact spot inside a band) is drawn from `rng`."""
    from svdstory.world.catalog import LAYOUT_ATTRIBUTES

    facing = FACING_SIGNS[staging["facing"]]
    ext = extent(subject, 2, view_of({"facing": facing}))
    area_u, x_u, y_u = rng.uniform(0.0, 1.0, 3)
    pose = rng.uniform(-1.0, 1.0, len(POSE_KEYS))
    shrink = min(1.0, *(_fitting_area(subject, view) / SIZE_BANDS[-1][1] for view in VIEWS_V2))
    low, high = SIZE_BANDS[LAYOUT_ATTRIBUTES["size"].index(staging["size"])]
    scale = math.sqrt(shrink * (low + area_u * (high - low)) / ext.area)
    third = LAYOUT_ATTRIBUTES["placement"].index(staging["placement"])
    free_x = 1 - 2 * MARGIN - ext.width * scale
    free_y = 1 - 2 * MARGIN - ext.height * scale
    layout = {"x": float(MARGIN + ext.width * scale / 2 + (third + 0.2 + 0.6 * x_u) / 3 * free_x),
              "y": float(MARGIN + ext.height * scale / 2 + (0.35 + 0.65 * y_u) * free_y),  # lower part: on the ground
              "scale": float(scale), "facing": facing}
    animal = SUBJECTS[subject] == "animal"
    layout.update({key: float(value) if animal else 0.0 for key, value in zip(POSE_KEYS, pose)})
    return layout
