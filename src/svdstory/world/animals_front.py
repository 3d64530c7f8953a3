"""World v2's front views of the animals: body seen head-on, the face in the middle, both eyes.

Conventions as animals.py (a Pen in the subject frame, back to front, Anchors returned); the frame
is never mirrored here. The pose still shows: stride splays the legs, neck raises the head, head
rolls it, tail swings whatever shows behind the body (a tail, the trunk, the ears).
"""

from __future__ import annotations

import math

from svdstory.world.animals import chain
from svdstory.world.features import Anchors
from svdstory.world.frame import reach, turn
from svdstory.world.labels import Pose
from svdstory.world.pen import Pen

PI = math.pi
SIDES = (-1.0, 1.0)


def _pair(pen: Pen, u: float, v: float, length: float, r: float, splay: float, role: str = "body") -> None:
    """Two legs from (+-u, v) down, their feet `splay` radians outward."""
    for side in SIDES:
        top = (side * u, v)
        pen.capsule(top, reach(top, length, PI / 2 - side * splay), r, role)


def _head(pen: Pen, v: float, pose: Pose) -> tuple[tuple[float, float], float]:
    """Centre and roll of a head above the body at height v."""
    return (0.0, v - 0.04 * pose.neck), 0.25 * pose.head


def _anchors(head, tilt: float, eyes_v: float, radius: float, gap: float, top_v: float, width: float,
             neck_v: float) -> Anchors:
    return Anchors(eyes=turn(head, 0.0, eyes_v, tilt), eye_radius=radius, eye_gap=gap,
                   top=turn(head, 0.0, top_v, tilt), top_width=width, neck=turn(head, 0.0, neck_v, tilt),
                   neck_width=0.18, tilt=tilt, gaze=0.0)


def cat(pen: Pen, pose: Pose) -> Anchors:
    _pair(pen, 0.13, 0.1, 0.2, 0.048, 0.1 + 0.08 * pose.stride, "far")  # hind legs
    side = 1.0 if pose.tail >= 0 else -1.0
    chain(pen, (side * 0.1, 0.08), -PI / 2 + side * (0.9 + 0.3 * abs(pose.tail)), [(0.16, 0.036), (0.15, 0.032)],
           curl=-side * 0.7)
    pen.ellipse((0.0, 0.04), 0.17, 0.19, "body")
    _pair(pen, 0.07, 0.12, 0.19, 0.046, 0.04 * pose.stride)
    head, tilt = _head(pen, -0.2, pose)
    for s in SIDES:  # pointed ears
        pen.polygon([turn(head, u, v, tilt) for u, v in ((s * 0.04, -0.08), (s * 0.17, -0.03), (s * 0.14, -0.25))],
                    "body")
    pen.ellipse(head, 0.17, 0.145, "body", angle=tilt)
    pen.polygon([turn(head, u, v, tilt) for u, v in ((-0.03, 0.05), (0.03, 0.05), (0.0, 0.085))], "dark",
                outline=False)  # nose
    return _anchors(head, tilt, -0.02, 0.055, 0.15, -0.13, 0.24, 0.17)


def dog(pen: Pen, pose: Pose) -> Anchors:
    _pair(pen, 0.13, 0.1, 0.2, 0.056, 0.1 + 0.08 * pose.stride, "far")
    side = 1.0 if pose.tail >= 0 else -1.0
    chain(pen, (side * 0.12, 0.02), -PI / 2 + side * (0.7 + 0.3 * abs(pose.tail)), [(0.17, 0.042)], curl=0.0)
    pen.ellipse((0.0, 0.05), 0.18, 0.2, "body")
    _pair(pen, 0.075, 0.13, 0.19, 0.056, 0.04 * pose.stride)
    head, tilt = _head(pen, -0.19, pose)
    pen.ellipse(head, 0.155, 0.14, "body", angle=tilt)
    pen.ellipse(turn(head, 0.0, 0.08, tilt), 0.09, 0.065, "light", angle=tilt)  # snout
    pen.ellipse(turn(head, 0.0, 0.05, tilt), 0.04, 0.03, "dark", angle=tilt)  # nose
    for s in SIDES:  # floppy ears hanging at the sides
        pen.ellipse(turn(head, s * 0.16, 0.03, tilt), 0.055, 0.12, "far", angle=tilt - s * 0.25)
    return _anchors(head, tilt, -0.04, 0.053, 0.13, -0.13, 0.24, 0.16)


def rabbit(pen: Pen, pose: Pose) -> Anchors:
    pen.ellipse((0.0, 0.07), 0.18, 0.19, "body")
    for s in SIDES:  # hind feet
        pen.ellipse((s * (0.09 + 0.02 * pose.stride), 0.25), 0.075, 0.04, "body")
    head, tilt = _head(pen, -0.15, pose)
    spread = 0.12 + 0.1 * pose.tail
    for s in SIDES:  # long upright ears
        pen.ellipse(turn(head, s * 0.065, -0.22, tilt), 0.048, 0.15, "body", angle=tilt + s * spread)
        pen.ellipse(turn(head, s * 0.066, -0.21, tilt), 0.022, 0.1, "light", angle=tilt + s * spread, outline=False)
    pen.ellipse(head, 0.15, 0.14, "body", angle=tilt)
    pen.ellipse(turn(head, 0.0, 0.06, tilt), 0.03, 0.022, "dark", angle=tilt)  # nose
    return _anchors(head, tilt, -0.02, 0.052, 0.13, -0.12, 0.23, 0.15)


def giraffe(pen: Pen, pose: Pose) -> Anchors:
    _pair(pen, 0.11, 0.05, 0.34, 0.045, 0.06 + 0.05 * pose.stride, "far")
    pen.ellipse((0.0, 0.02), 0.17, 0.15, "body")
    _pair(pen, 0.065, 0.1, 0.3, 0.045, 0.02 * pose.stride)
    head, tilt = _head(pen, -0.4, pose)  # the neck leans toward the viewer: shorter than in profile
    pen.capsule((0.0, -0.02), turn(head, 0.0, 0.05, tilt), 0.065, "body")
    for s in SIDES:
        pen.capsule(turn(head, s * 0.04, -0.06, tilt), turn(head, s * 0.055, -0.16, tilt), 0.018, "body")  # ossicones
        pen.ellipse(turn(head, s * 0.12, -0.04, tilt), 0.05, 0.025, "body", angle=tilt + s * 0.3)  # ears
    pen.ellipse(head, 0.1, 0.12, "body", angle=tilt)
    pen.ellipse(turn(head, 0.0, 0.07, tilt), 0.065, 0.045, "light", angle=tilt)  # muzzle
    return _anchors(head, tilt, -0.03, 0.045, 0.12, -0.1, 0.18, 0.15)


def elephant(pen: Pen, pose: Pose) -> Anchors:
    _pair(pen, 0.16, 0.08, 0.2, 0.07, 0.05 + 0.04 * pose.stride, "far")
    pen.ellipse((0.0, 0.04), 0.27, 0.21, "body")
    _pair(pen, 0.1, 0.12, 0.2, 0.075, 0.02 * pose.stride)
    head, tilt = _head(pen, -0.1, pose)
    for s in SIDES:  # big ears behind the head
        pen.ellipse(turn(head, s * 0.2, 0.0, tilt), 0.14, 0.17, "far", angle=tilt - s * 0.2)
    pen.ellipse(head, 0.17, 0.16, "body", angle=tilt)
    chain(pen, turn(head, 0.0, 0.1, tilt), PI / 2 + tilt + 0.2 * pose.tail, [(0.1, 0.05), (0.1, 0.043), (0.08, 0.036)],
           curl=0.15 * pose.tail)  # trunk
    return _anchors(head, tilt, -0.04, 0.05, 0.17, -0.15, 0.25, 0.2)


def bird(pen: Pen, pose: Pose) -> Anchors:
    for s in SIDES:  # thin legs and toes
        hip = (s * 0.06, 0.12)
        foot = reach(hip, 0.18, PI / 2 - s * 0.15 * pose.stride)
        pen.capsule(hip, foot, 0.022, "beak")
        pen.capsule(foot, (foot[0] + s * 0.06, foot[1]), 0.018, "beak")
    for s in SIDES:  # wings at the sides
        pen.ellipse((s * 0.16, 0.02), 0.06, 0.14, "far", angle=-s * (0.25 + 0.15 * pose.tail))
    pen.ellipse((0.0, 0.02), 0.17, 0.18, "body")
    head, tilt = _head(pen, -0.2, pose)
    pen.ellipse(head, 0.14, 0.14, "body", angle=tilt)
    pen.polygon([turn(head, u, v, tilt) for u, v in ((-0.045, 0.03), (0.045, 0.03), (0.0, 0.12))], "beak")
    return _anchors(head, tilt, -0.03, 0.05, 0.13, -0.12, 0.22, 0.16)


DRAWERS = {"cat": cat, "dog": dog, "rabbit": rabbit, "giraffe": giraffe, "elephant": elephant, "bird": bird}
