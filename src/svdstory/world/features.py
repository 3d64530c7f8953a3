"""The identity features every subject carries at its anchors: eyes of four styles and an accessory."""

from __future__ import annotations

from dataclasses import dataclass

from svdstory.world.frame import turn
from svdstory.world.pen import Pen, Point


@dataclass(frozen=True)
class Anchors:
    """Where a subject class wants its features, in its own frame (see frame.Frame)."""

    eyes: Point          # midpoint between the two eyes
    eye_radius: float
    eye_gap: float       # distance between the eye centres
    top: Point           # middle of the base of a hat or crown
    top_width: float
    neck: Point          # centre of a bow
    neck_width: float
    tilt: float = 0.0    # rotation of eyes and headwear, following a turned head
    gaze: float = 0.3    # round pupils' shift toward +u, in eye radii: ahead in a side view, 0 at the viewer


def draw_eyes(pen: Pen, at: Anchors, style: str) -> None:
    r = at.eye_radius
    for side in (-0.5, 0.5):
        centre = turn(at.eyes, side * at.eye_gap, 0.0, at.tilt)
        if style == "round":
            pen.ellipse(centre, r, r, "white")
            pen.ellipse(turn(centre, at.gaze * r, 0.0, at.tilt), 0.5 * r, 0.5 * r, "pupil", outline=False)
        elif style == "beady":
            pen.ellipse(centre, 0.65 * r, 0.65 * r, "pupil", outline=False)
        elif style == "sleepy":  # drooping lids in the body's shade, lashes low across them
            pen.ellipse(centre, r, r, "lid")
            pen.capsule(turn(centre, -0.85 * r, 0.2 * r, at.tilt), turn(centre, 0.85 * r, 0.2 * r, at.tilt), 0.22 * r,
                        "pupil", outline=False)
        else:  # glowing
            pen.ellipse(centre, r, r, "glow")
            pen.ellipse(centre, 0.42 * r, 0.42 * r, "white", outline=False)


def draw_accessory(pen: Pen, at: Anchors, kind: str) -> None:
    if kind == "hat":
        _hat(pen, at)
    elif kind == "crown":
        _crown(pen, at)
    elif kind == "bow":
        _bow(pen, at)


def _hat(pen: Pen, at: Anchors) -> None:
    w, t = at.top_width, at.tilt
    pen.box(turn(at.top, 0.0, -0.5 * w, t), 0.38 * w, 0.42 * w, "hat", angle=t)
    pen.box(turn(at.top, 0.0, -0.2 * w, t), 0.38 * w, 0.09 * w, "band", angle=t, outline=False)
    pen.box(turn(at.top, 0.0, -0.05 * w, t), 0.62 * w, 0.07 * w, "hat", angle=t)


def _crown(pen: Pen, at: Anchors) -> None:
    w, t = at.top_width, at.tilt
    for du in (-0.36 * w, 0.0, 0.36 * w):
        tip = (du, -0.68 * w)
        base = [(du - 0.2 * w, -0.15 * w), (du + 0.2 * w, -0.15 * w)]
        pen.polygon([turn(at.top, u, v, t) for u, v in base + [tip]], "crown")
    pen.box(turn(at.top, 0.0, -0.12 * w, t), 0.52 * w, 0.14 * w, "crown", angle=t)


def _bow(pen: Pen, at: Anchors) -> None:
    (u, v), w = at.neck, at.neck_width
    for side in (-1.0, 1.0):
        pen.polygon([(u, v), (u + side * 0.5 * w, v - 0.32 * w), (u + side * 0.5 * w, v + 0.32 * w)], "bow")
    pen.ellipse((u, v), 0.12 * w, 0.12 * w, "bow")
