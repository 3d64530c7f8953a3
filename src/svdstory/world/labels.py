"""What a rendered sample shows: its `Labels` (validated on construction) and the `Sample` itself."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world.catalog import ATTRIBUTES, SCENES, SUBJECTS

POSE_KEYS = ("stride", "neck", "head", "tail")  # articulation in [-1, 1]; always 0 for objects
LAYOUT_KEYS = ("x", "y", "scale", "facing") + POSE_KEYS


@dataclass(frozen=True)
class Pose:
    """Articulation of an animal, each in [-1, 1]; objects keep all zeros."""

    stride: float = 0.0  # legs swing forward / back
    neck: float = 0.0    # neck raised / lowered
    head: float = 0.0    # head tilted up / down
    tail: float = 0.0    # tail raised / lowered


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
    if layout.get("facing", 1.0) not in (-1.0, 1.0):
        raise SvdStoryError(f"layout['facing'] must be -1 or 1, got {layout['facing']!r}")


@dataclass(frozen=True)
class Labels:
    subject: str                   # a key of SUBJECTS
    family: str                    # SUBJECTS[subject]: "animal" or "object"
    attributes: dict[str, str]     # every attribute of ATTRIBUTES -> one of its values
    scene: str                     # one of SCENES
    layout: dict[str, float] = field(default_factory=dict)  # x, y (bbox centre, 0..1), scale, facing, pose

    def __post_init__(self):
        check_choice("subject", self.subject, SUBJECTS)
        if self.family != SUBJECTS[self.subject]:
            raise SvdStoryError(f"family {self.family!r} does not match subject {self.subject!r}")
        check_choice("scene", self.scene, SCENES)
        if set(self.attributes) != set(ATTRIBUTES):
            raise SvdStoryError(f"attributes must name exactly {sorted(ATTRIBUTES)}, got {sorted(self.attributes)}")
        for name, value in self.attributes.items():
            check_choice(name, value, ATTRIBUTES[name])
        _check_layout(self.layout)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "family": self.family, "attributes": dict(self.attributes),
                "scene": self.scene, "layout": dict(self.layout)}

    @classmethod
    def from_dict(cls, data: dict) -> "Labels":
        return cls(subject=data["subject"], family=data["family"], attributes=dict(data["attributes"]),
                   scene=data["scene"], layout={k: float(v) for k, v in data["layout"].items()})


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # uint8 (H, W, 3)
    mask: np.ndarray   # bool (H, W), True exactly where the subject is drawn
    labels: Labels
    caption: str
