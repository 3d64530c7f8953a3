"""What a rendered sample shows: its `Labels` (validated on construction) and the `Sample` itself."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world.catalog import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS, WORLDS

POSE_KEYS = ("stride", "neck", "head", "tail")  # articulation in [-1, 1]; always 0 for objects
LAYOUT_KEYS = ("x", "y", "scale", "facing") + POSE_KEYS
# layout["facing"] of each value of LAYOUT_ATTRIBUTES["facing"]: the sign mirrors a side view; 0 draws
# the front view, which only world v2 has
FACING_SIGNS = {"left": -1.0, "right": 1.0, "front": 0.0}


@dataclass(frozen=True)
class Pose:
    """Articulation of an animal, each in [-1, 1]; objects keep all zeros."""

    stride: float = 0.0  # legs swing forward / back
    neck: float = 0.0    # neck raised / lowered
    head: float = 0.0    # head tilted up / down
    tail: float = 0.0    # tail raised / lowered


def view_of(layout: dict[str, float]) -> str:
    """How a layout shows its subject: "front" (facing 0, world v2) or "side" (mirrored for -1)."""
    return "front" if layout.get("facing", 1.0) == 0.0 else "side"


def pose_of(layout: dict[str, float]) -> Pose:
    return Pose(**{key: float(layout.get(key, 0.0)) for key in POSE_KEYS})


def check_choice(kind: str, value: str, allowed) -> None:
    if value not in allowed:
        raise SvdStoryError(f"unknown {kind} {value!r}; expected one of: {', '.join(allowed)}")


def _check_layout(layout: dict[str, float]) -> None:
    for key in ("x", "y", "scale"):
        if key not in layout:
            raise SvdStoryError(f"layout is missing {key!r} (got keys {sorted(layout)})")
    for key, value in layout.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SvdStoryError(f"layout[{key!r}] must be a finite number, got {value!r}")
    if layout["scale"] <= 0:
        raise SvdStoryError(f"layout['scale'] must be > 0, got {layout['scale']!r}")
    if layout.get("facing", 1.0) not in FACING_SIGNS.values():
        raise SvdStoryError(f"layout['facing'] must be -1, 0 or 1, got {layout['facing']!r}")


def _check_named(kind: str, values: dict[str, str], catalogue: dict[str, tuple[str, ...]]) -> None:
    if set(values) != set(catalogue):
        raise SvdStoryError(f"{kind} must name exactly {sorted(catalogue)}, got {sorted(values)}")
    for name, value in values.items():
        check_choice(name, value, catalogue[name])


@dataclass(frozen=True)
class Prop:
    """A small background instance of a subject class (world v2), drawn behind the subject."""

    subject: str                   # a key of SUBJECTS
    attributes: dict[str, str]     # its own values of every attribute of ATTRIBUTES
    layout: dict[str, float]       # as Labels.layout: x, y (box centre, 0..1), scale, facing (-1, 0, 1), pose
    bbox: tuple[float, ...] | None = None  # visible pixels (x0, y0, x1, y1) as fractions; set by `sample`

    def __post_init__(self):
        check_choice("prop", self.subject, SUBJECTS)
        _check_named("prop attributes", self.attributes, ATTRIBUTES)
        _check_layout(self.layout)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "attributes": dict(self.attributes), "layout": dict(self.layout),
                "bbox": None if self.bbox is None else list(self.bbox)}

    @classmethod
    def from_dict(cls, data: dict) -> "Prop":
        bbox = data.get("bbox")
        return cls(subject=data["subject"], attributes=dict(data["attributes"]),
                   layout={k: float(v) for k, v in data["layout"].items()},
                   bbox=None if bbox is None else tuple(float(v) for v in bbox))


@dataclass(frozen=True)
class Labels:
    subject: str                   # a key of SUBJECTS
    family: str                    # SUBJECTS[subject]: "animal" or "object"
    attributes: dict[str, str]     # every attribute of ATTRIBUTES -> one of its values
    scene: str                     # one of SCENES
    layout: dict[str, float] = field(default_factory=dict)  # x, y (bbox centre, 0..1), scale, facing, pose
    world: int = 1                 # world version (catalog.WORLDS); the fields below are v2's, empty in v1
    background: dict[str, str] = field(default_factory=dict)         # BACKGROUND_ATTRIBUTES -> value
    layout_attributes: dict[str, str] = field(default_factory=dict)  # LAYOUT_ATTRIBUTES -> value
    props: tuple[Prop, ...] = ()   # background instances, drawn in this order (later ones in front)

    def __post_init__(self):
        check_choice("subject", self.subject, SUBJECTS)
        if self.family != SUBJECTS[self.subject]:
            raise SvdStoryError(f"family {self.family!r} does not match subject {self.subject!r}")
        check_choice("scene", self.scene, SCENES)
        _check_named("attributes", self.attributes, ATTRIBUTES)
        _check_layout(self.layout)
        if self.world not in WORLDS:
            raise SvdStoryError(f"unknown world {self.world!r}; expected one of {WORLDS}")
        if self.world == 1 and (self.background or self.layout_attributes or self.props):
            raise SvdStoryError("world 1 labels have no background, layout_attributes or props")
        if self.world == 1 and self.layout.get("facing", 1.0) == 0.0:
            raise SvdStoryError("world 1 draws side views only: layout['facing'] must be -1 or 1")
        if self.world >= 2:
            _check_named("background", self.background, BACKGROUND_ATTRIBUTES)
            _check_named("layout_attributes", self.layout_attributes, LAYOUT_ATTRIBUTES)
            facing = self.layout_attributes["facing"]
            if self.layout.get("facing", 1.0) != FACING_SIGNS[facing]:
                raise SvdStoryError(f"layout['facing'] {self.layout.get('facing', 1.0)!r} does not show "
                                    f"facing {facing!r} (expected {FACING_SIGNS[facing]!r})")
            if any(not isinstance(p, Prop) for p in self.props):
                raise SvdStoryError("props must be Prop instances")

    def to_dict(self) -> dict:
        out = {"subject": self.subject, "family": self.family, "attributes": dict(self.attributes),
               "scene": self.scene, "layout": dict(self.layout)}
        if self.world >= 2:  # v1 records keep their v1 form
            out.update(world=self.world, background=dict(self.background),
                       layout_attributes=dict(self.layout_attributes), props=[p.to_dict() for p in self.props])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Labels":
        return cls(subject=data["subject"], family=data["family"], attributes=dict(data["attributes"]),
                   scene=data["scene"], layout={k: float(v) for k, v in data["layout"].items()},
                   world=int(data.get("world", 1)), background=dict(data.get("background", {})),
                   layout_attributes=dict(data.get("layout_attributes", {})),
                   props=tuple(Prop.from_dict(p) for p in data.get("props", ())))


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # uint8 (H, W, 3)
    mask: np.ndarray   # bool (H, W), True exactly where the subject is drawn
    labels: Labels
    caption: str
    prop_map: np.ndarray | None = None  # int8 (H, W): index of the prop seen at each pixel, -1 none (v2)
