"""World v2's props: small background instances of the subject classes that belong in a scene
(cars and buses in a city, chairs, lamps and mugs in a room, boxes where they fit), each with its own
random attributes and layout; animals only seldom."""

from __future__ import annotations

import math

import numpy as np

from svdstory.world.catalog import ATTRIBUTES, PROP_CLASSES, PROP_COUNTS, SUBJECTS
from svdstory.world.geometry import extent
from svdstory.world.labels import FACING_SIGNS, POSE_KEYS, Prop, pose_of, view_of
from svdstory.world.layout import subject_frame
from svdstory.world.subject import draw_subject

AREA = (0.012, 0.035)  # fraction of the image one prop covers (the subject covers 0.06..0.32)
TRIES = 8              # placements tried before a prop that would hide behind the subject is dropped


WORLD = 2  # props exist in world v2 only, and are drawn as it draws its subjects


def layout_box(subject: str, layout: dict[str, float]) -> tuple[float, float, float, float]:
    ext = extent(subject, WORLD, view_of(layout))
    w, h = ext.width * layout["scale"], ext.height * layout["scale"]
    return layout["x"] - w / 2, layout["y"] - h / 2, layout["x"] + w / 2, layout["y"] + h / 2


def _overlap(a, b) -> float:
    """Share of box a covered by box b."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max(1e-9, (a[2] - a[0]) * (a[3] - a[1]))


def _prop_layout(cls: str, line: float, rng: np.random.Generator) -> dict[str, float]:
    facing = list(FACING_SIGNS.values())[rng.integers(len(FACING_SIGNS))]  # props turn every way too
    ext = extent(cls, WORLD, view_of({"facing": facing}))
    scale = math.sqrt(rng.uniform(*AREA) / ext.area)
    w, h = ext.width * scale, ext.height * scale
    bottom = rng.uniform(min(line + 0.04, 0.97), 0.98)
    y = min(max(bottom - h / 2, h / 2 + 0.01), 0.99 - h / 2)
    x = rng.uniform(w / 2 + 0.01, 0.99 - w / 2)
    pose = rng.uniform(-1.0, 1.0, len(POSE_KEYS))
    animal = SUBJECTS[cls] == "animal"
    return {"x": float(x), "y": float(y), "scale": float(scale), "facing": facing,
            **{k: float(v) if animal else 0.0 for k, v in zip(POSE_KEYS, pose)}}


def sample_props(scene: str, line: float, subject_box, rng: np.random.Generator) -> tuple[Prop, ...]:
    """0-3 props standing below `line` (the lowest the horizon can be), mostly clear of the subject's box."""
    classes = PROP_CLASSES[scene]
    names, weights = list(classes), np.asarray(list(classes.values()))
    props = []
    for _ in range(rng.choice(len(PROP_COUNTS), p=PROP_COUNTS)):
        cls = names[rng.choice(len(names), p=weights / weights.sum())]
        attributes = {name: values[rng.integers(len(values))] for name, values in ATTRIBUTES.items()}
        if rng.uniform() < 0.85:  # headwear on background things is rare
            attributes["accessory"] = "none"
        for _ in range(TRIES):
            layout = _prop_layout(cls, line, rng)
            if _overlap(layout_box(cls, layout), subject_box) < 0.4:
                props.append(Prop(subject=cls, attributes=attributes, layout=layout))
                break
    props.sort(key=lambda p: layout_box(p.subject, p.layout)[3])  # far (higher bottom edge) first
    return tuple(props)


def prop_pens(props: tuple[Prop, ...], size: int) -> list:
    """Each prop drawn on its own layer (a pen: packed canvas and mask), in order."""
    return [draw_subject(size, subject_frame(prop.subject, prop.layout, size, WORLD), prop.subject,
                         prop.attributes, pose_of(prop.layout), WORLD, view_of(prop.layout)) for prop in props]


def draw_props(canvas: np.ndarray, pens: list, size: int) -> np.ndarray:
    """Draws the props' layers (`prop_pens`) onto the packed canvas in order; returns the int8 (H, W) map of
    which prop each pixel shows (-1: none)."""
    owner = np.full((size, size), -1, dtype=np.int8)
    for k, pen in enumerate(pens):
        canvas[pen.mask] = pen.canvas[pen.mask]
        owner[pen.mask] = k
    return owner


def visible_box(owner: np.ndarray, k: int) -> tuple[float, ...] | None:
    """(x0, y0, x1, y1) of prop k's visible pixels as fractions of the side (ends exclusive), or None."""
    rows, cols = np.nonzero(owner == k)
    if not len(rows):
        return None
    n = owner.shape[0]
    return (float(cols.min() / n), float(rows.min() / n), float((cols.max() + 1) / n), float((rows.max() + 1) / n))
