"""How each rigid object class is drawn. Objects only move, scale and mirror: the Pose is ignored.

Same conventions as animals.py: a Pen in the subject frame, back to front, returning the Anchors
of the face (eyes) and accessory spots that every subject carries.
"""

from __future__ import annotations

from svdstory.world.features import Anchors
from svdstory.world.labels import Pose
from svdstory.world.pen import Pen


def _wheels(pen: Pen, us, v: float, r: float) -> None:
    for u in us:
        pen.ellipse((u, v), r, r, "dark")
        pen.ellipse((u, v), 0.45 * r, 0.45 * r, "grey", outline=False)


def bus(pen: Pen, pose: Pose) -> Anchors:
    pen.box((0.0, 0.0), 0.5, 0.25, "body")
    for i in range(4):  # side windows
        pen.box((-0.38 + 0.17 * i, -0.12), 0.06, 0.07, "glass")
    pen.box((0.42, -0.1), 0.055, 0.1, "glass")  # windscreen
    _wheels(pen, (-0.3, 0.3), 0.25, 0.1)
    return Anchors(eyes=(0.3, 0.04), eye_radius=0.055, eye_gap=0.14, top=(0.28, -0.25), top_width=0.26,
                   neck=(-0.05, 0.1), neck_width=0.18)


def car(pen: Pen, pose: Pose) -> Anchors:
    pen.polygon([(-0.3, -0.05), (0.2, -0.05), (0.08, -0.26), (-0.22, -0.26)], "body")  # cabin
    pen.polygon([(-0.04, -0.08), (0.15, -0.08), (0.07, -0.23), (-0.04, -0.23)], "glass")
    pen.polygon([(-0.25, -0.08), (-0.08, -0.08), (-0.08, -0.23), (-0.19, -0.23)], "glass")
    pen.box((0.0, 0.04), 0.45, 0.12, "body")
    pen.box((0.43, -0.02), 0.025, 0.03, "glow", outline=False)  # headlight
    _wheels(pen, (-0.26, 0.26), 0.16, 0.1)
    return Anchors(eyes=(0.25, 0.0), eye_radius=0.055, eye_gap=0.13, top=(-0.07, -0.26), top_width=0.26,
                   neck=(-0.02, 0.05), neck_width=0.18)


def box(pen: Pen, pose: Pose) -> Anchors:
    pen.polygon([(-0.3, -0.2), (0.2, -0.2), (0.34, -0.34), (-0.16, -0.34)], "light")  # top face
    pen.polygon([(0.2, -0.2), (0.34, -0.34), (0.34, 0.16), (0.2, 0.3)], "far")  # side face
    pen.box((-0.05, 0.05), 0.25, 0.25, "body")  # front face
    pen.box((-0.05, 0.05), 0.035, 0.25, "grey", outline=False)  # tape
    return Anchors(eyes=(-0.05, 0.0), eye_radius=0.06, eye_gap=0.22, top=(0.02, -0.27), top_width=0.26,
                   neck=(-0.05, 0.17), neck_width=0.2)


def mug(pen: Pen, pose: Pose) -> Anchors:
    pen.ring((0.25, 0.02), 0.14, 0.15, 0.055, "body")  # handle
    pen.box((0.0, 0.0), 0.24, 0.26, "body")
    pen.ellipse((0.0, 0.26), 0.24, 0.05, "body")  # round bottom edge
    pen.ellipse((0.0, -0.26), 0.24, 0.06, "light")  # rim
    pen.ellipse((0.0, -0.26), 0.19, 0.04, "inner", outline=False)
    return Anchors(eyes=(0.0, -0.05), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.3), top_width=0.26,
                   neck=(0.0, 0.15), neck_width=0.2)


def lamp(pen: Pen, pose: Pose) -> Anchors:
    pen.ellipse((0.0, 0.38), 0.2, 0.06, "body")  # base
    pen.capsule((0.0, 0.37), (0.0, 0.0), 0.028, "grey")
    pen.polygon([(-0.3, 0.06), (0.3, 0.06), (0.17, -0.3), (-0.17, -0.3)], "body")  # shade
    pen.box((0.0, 0.06), 0.3, 0.02, "light")
    return Anchors(eyes=(0.0, -0.1), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.3), top_width=0.26,
                   neck=(0.0, 0.2), neck_width=0.18)


def chair(pen: Pen, pose: Pose) -> Anchors:
    for u in (-0.18, 0.26):  # back legs
        pen.box((u, 0.2), 0.03, 0.17, "far")
    pen.box((-0.02, -0.23), 0.22, 0.22, "body")  # backrest
    pen.polygon([(-0.3, 0.02), (0.24, 0.02), (0.34, 0.1), (-0.2, 0.1)], "light")  # seat
    for u in (-0.24, 0.3):  # front legs
        pen.box((u, 0.25), 0.032, 0.15, "body")
    return Anchors(eyes=(-0.02, -0.25), eye_radius=0.06, eye_gap=0.17, top=(-0.02, -0.45), top_width=0.26,
                   neck=(-0.02, -0.1), neck_width=0.17)


DRAWERS = {"bus": bus, "car": car, "box": box, "mug": mug, "lamp": lamp, "chair": chair}
