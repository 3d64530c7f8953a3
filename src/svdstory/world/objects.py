"""How each rigid object class is drawn. Objects only move, scale and mirror: the Pose is ignored.

Same conventions as animals.py: a Pen in the subject frame, back to front, returning the Anchors
of the face (eyes) and accessory spots that every subject carries. `DRAWERS` are world v1's side
views; `SIDE_V2` redraws the objects whose v1 profile does not show where they face.
"""

from __future__ import annotations

from svdstory.world.features import Anchors
from svdstory.world.frame import turn
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


# World v2 side views, facing +u: the face (eyes) points ahead and the back of the object shows
# behind it, at -u: the box's side face, the mug's handle, the chair's backrest; the lamp's shade
# leans forward. (v1's box and mug showed their back ahead, its lamp and chair were symmetric.)


def box_v2(pen: Pen, pose: Pose) -> Anchors:
    """Turned three quarters: the front face ahead, the side face and the top receding behind."""
    pen.polygon([(0.26, -0.2), (-0.14, -0.2), (-0.36, -0.34), (0.04, -0.34)], "light")  # top face
    pen.polygon([(-0.14, -0.2), (-0.36, -0.34), (-0.36, 0.16), (-0.14, 0.3)], "far")  # side face
    pen.box((0.06, 0.05), 0.2, 0.25, "body")  # front face
    pen.box((0.06, 0.05), 0.035, 0.25, "grey", outline=False)  # tape
    return Anchors(eyes=(0.06, 0.0), eye_radius=0.06, eye_gap=0.19, top=(-0.02, -0.27), top_width=0.26,
                   neck=(0.06, 0.17), neck_width=0.2)


def mug_v2(pen: Pen, pose: Pose) -> Anchors:
    """The handle at the back."""
    pen.ring((-0.25, 0.02), 0.14, 0.15, 0.055, "body")
    pen.box((0.0, 0.0), 0.24, 0.26, "body")
    pen.ellipse((0.0, 0.26), 0.24, 0.05, "body")
    pen.ellipse((0.0, -0.26), 0.24, 0.06, "light")
    pen.ellipse((0.0, -0.26), 0.19, 0.04, "inner", outline=False)
    return Anchors(eyes=(0.0, -0.05), eye_radius=0.06, eye_gap=0.17, top=(0.0, -0.3), top_width=0.26,
                   neck=(0.0, 0.15), neck_width=0.2)


LAMP_LEAN = -0.55  # the v2 lamp's shade turns this far (radians) so that its opening points ahead


def lamp_v2(pen: Pen, pose: Pose) -> Anchors:
    """A reading lamp: the shade leans forward on its pole, the bulb shows in its opening."""
    pen.ellipse((-0.05, 0.38), 0.2, 0.06, "body")  # base
    pen.capsule((-0.05, 0.37), (-0.05, -0.04), 0.028, "grey")
    shade = (0.02, -0.12)
    pen.ellipse(turn(shade, 0.0, 0.17, LAMP_LEAN), 0.13, 0.07, "bulb", angle=LAMP_LEAN)
    corners = ((-0.3, 0.15), (0.3, 0.15), (0.17, -0.2), (-0.17, -0.2))
    pen.polygon([turn(shade, u, v, LAMP_LEAN) for u, v in corners], "body")
    pen.box(turn(shade, 0.0, 0.15, LAMP_LEAN), 0.3, 0.02, "light", angle=LAMP_LEAN)
    return Anchors(eyes=turn(shade, 0.0, -0.02, LAMP_LEAN), eye_radius=0.06, eye_gap=0.17,
                   top=turn(shade, 0.0, -0.2, LAMP_LEAN), top_width=0.26, neck=(-0.05, 0.2), neck_width=0.18,
                   tilt=LAMP_LEAN)


def chair_v2(pen: Pen, pose: Pose) -> Anchors:
    """Turned three quarters: the backrest behind, the seat reaching ahead."""
    for u, top in ((-0.3, 0.0), (0.02, -0.03)):  # back legs, the far one mostly hidden
        pen.box((u, top + 0.17), 0.03, 0.17, "far")
    pen.polygon([(-0.32, 0.02), (0.02, -0.02), (0.02, -0.46), (-0.32, -0.42)], "body")  # backrest
    pen.polygon([(-0.32, 0.02), (0.02, -0.02), (0.34, 0.06), (0.0, 0.11)], "light")  # seat
    for u, top in ((0.31, 0.07), (0.0, 0.11)):  # front legs
        pen.box((u, top + 0.15), 0.032, 0.15, "body")
    return Anchors(eyes=(-0.15, -0.23), eye_radius=0.05, eye_gap=0.14, top=(-0.15, -0.44), top_width=0.24,
                   neck=(-0.15, -0.08), neck_width=0.16)


SIDE_V2 = {"box": box_v2, "mug": mug_v2, "lamp": lamp_v2, "chair": chair_v2}
