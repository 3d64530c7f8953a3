"""World v2's front views of the rigid objects: each faces the viewer, left-right symmetric, with
its face (eyes) in the middle. Conventions as objects.py; the frame is never mirrored here."""

from __future__ import annotations

from svdstory.world.features import Anchors
from svdstory.world.labels import Pose
from svdstory.world.pen import Pen

SIDES = (-1.0, 1.0)


def _feet(pen: Pen, u: float, v: float, hw: float, hh: float) -> None:
    """Two dark stubs (wheels seen end-on), drawn first so that only their lower part shows."""
    for side in SIDES:
        pen.box((side * u, v), hw, hh, "dark")


def bus(pen: Pen, pose: Pose) -> Anchors:
    """Tall and flat-fronted: a wide windscreen over the face, headlights low at the corners."""
    _feet(pen, 0.2, 0.28, 0.05, 0.06)
    pen.box((0.0, 0.0), 0.27, 0.29, "body")
    pen.box((0.0, -0.25), 0.15, 0.025, "dark", outline=False)  # destination sign
    pen.box((0.0, -0.11), 0.22, 0.1, "glass")  # windscreen
    for side in SIDES:
        pen.box((side * 0.19, 0.18), 0.045, 0.035, "bulb")
    pen.box((0.0, 0.27), 0.27, 0.025, "dark", outline=False)  # bumper
    return Anchors(eyes=(0.0, 0.06), eye_radius=0.055, eye_gap=0.15, top=(0.0, -0.29), top_width=0.26,
                   neck=(0.0, 0.19), neck_width=0.16, gaze=0.0)


def car(pen: Pen, pose: Pose) -> Anchors:
    """Low and wide: a narrower cabin with its windscreen on top, headlights at the ends."""
    _feet(pen, 0.23, 0.16, 0.055, 0.06)
    pen.polygon([(-0.25, -0.04), (0.25, -0.04), (0.18, -0.25), (-0.18, -0.25)], "body")  # cabin
    pen.polygon([(-0.2, -0.06), (0.2, -0.06), (0.15, -0.22), (-0.15, -0.22)], "glass")
    pen.box((0.0, 0.05), 0.31, 0.1, "body")
    for side in SIDES:
        pen.box((side * 0.235, 0.01), 0.05, 0.03, "bulb")
    pen.box((0.0, 0.11), 0.09, 0.022, "dark", outline=False)  # grille
    return Anchors(eyes=(0.0, 0.02), eye_radius=0.05, eye_gap=0.13, top=(0.0, -0.25), top_width=0.24,
                   neck=(0.0, 0.13), neck_width=0.16, gaze=0.0)


def box(pen: Pen, pose: Pose) -> Anchors:
    """The front face square on, the top face above it, no side face."""
    pen.polygon([(-0.25, -0.2), (0.25, -0.2), (0.19, -0.31), (-0.19, -0.31)], "light")
    pen.polygon([(-0.035, -0.2), (0.035, -0.2), (0.027, -0.31), (-0.027, -0.31)], "grey", outline=False)
    pen.box((0.0, 0.05), 0.25, 0.25, "body")
    pen.box((0.0, 0.05), 0.035, 0.25, "grey", outline=False)  # tape
    return Anchors(eyes=(0.0, 0.0), eye_radius=0.06, eye_gap=0.22, top=(0.0, -0.27), top_width=0.26,
                   neck=(0.0, 0.17), neck_width=0.2, gaze=0.0)


def mug(pen: Pen, pose: Pose) -> Anchors:
    """The handle hidden behind the mug."""
    pen.box((0.0, 0.0), 0.24, 0.26, "body")
    pen.ellipse((0.0, 0.26), 0.24, 0.05, "body")
    pen.ellipse((0.0, -0.26), 0.24, 0.06, "light")
    pen.ellipse((0.0, -0.26), 0.19, 0.04, "inner", outline=False)
    return Anchors(eyes=(0.0, -0.05), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.3), top_width=0.26,
                   neck=(0.0, 0.15), neck_width=0.2, gaze=0.0)


def lamp(pen: Pen, pose: Pose) -> Anchors:
    """The shade tipped toward the viewer: its opening shows below it, the bulb in the middle."""
    pen.ellipse((0.0, 0.38), 0.2, 0.06, "body")  # base
    pen.capsule((0.0, 0.37), (0.0, 0.0), 0.028, "grey")
    pen.ellipse((0.0, 0.06), 0.3, 0.12, "inner")  # the opening
    pen.ellipse((0.0, 0.08), 0.11, 0.07, "bulb", outline=False)
    pen.polygon([(-0.3, 0.04), (0.3, 0.04), (0.17, -0.28), (-0.17, -0.28)], "body")
    return Anchors(eyes=(0.0, -0.11), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.28), top_width=0.26,
                   neck=(0.0, 0.24), neck_width=0.18, gaze=0.0)


def chair(pen: Pen, pose: Pose) -> Anchors:
    """The seat toward the viewer, the backrest square behind it, four legs."""
    for side in SIDES:  # back legs
        pen.box((side * 0.17, 0.19), 0.03, 0.15, "far")
    pen.box((0.0, -0.22), 0.21, 0.23, "body")  # backrest
    pen.polygon([(-0.23, 0.01), (0.23, 0.01), (0.29, 0.1), (-0.29, 0.1)], "light")  # seat
    for side in SIDES:  # front legs
        pen.box((side * 0.26, 0.25), 0.032, 0.15, "body")
    return Anchors(eyes=(0.0, -0.23), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.45), top_width=0.26,
                   neck=(0.0, -0.08), neck_width=0.17, gaze=0.0)


DRAWERS = {"bus": bus, "car": car, "box": box, "mug": mug, "lamp": lamp, "chair": chair}
