"""How each articulated animal class is drawn: shared legs and tails, class-specific heads and bodies.

Every drawer takes a Pen in the subject frame (unit ~ body length) and a Pose, draws back to front,
and returns the Anchors of its identity features. Angles: 0 points forward, pi/2 down, -pi/2 up.
"""

from __future__ import annotations

import math

from svdstory.world.features import Anchors
from svdstory.world.frame import reach, turn
from svdstory.world.labels import Pose
from svdstory.world.pen import Pen, Point

PI = math.pi


def _legs(pen: Pen, hips: tuple[float, float], hip_v: float, length: float, r: float, stride: float,
          role: str = "body") -> None:
    """Four legs, near and far pairs swinging in opposition; drawn before the body hides the hips."""
    swing = 0.42 * stride
    for near in (False, True):
        for hip_u, front in ((hips[0], -1.0), (hips[1], 1.0)):
            sign = 1.0 if near else -1.0
            top = (hip_u + (0.0 if near else 0.05), hip_v - (0.0 if near else 0.02))
            angle = PI / 2 - sign * front * swing
            pen.capsule(top, reach(top, length * (1.0 if near else 0.95), angle), r, role if near else "far")


def chain(pen: Pen, root: Point, angle: float, segments, curl: float, role: str = "body") -> Point:
    """A tail or trunk of capsules (length, radius), each turned `curl` further than the last."""
    for length, r in segments:
        end = reach(root, length, angle)
        pen.capsule(root, end, r, role)
        root, angle = end, angle + curl
    return root


def _neck(pen: Pen, root: Point, length: float, r: float, angle: float) -> Point:
    end = reach(root, length, angle)
    pen.capsule(root, end, r, "body")
    return end


def cat(pen: Pen, pose: Pose) -> Anchors:
    _legs(pen, (-0.2, 0.2), 0.06, 0.25, 0.048, pose.stride)
    chain(pen, (-0.27, -0.04), PI + 0.8 + 0.45 * pose.tail, [(0.17, 0.036), (0.16, 0.032)], curl=0.7)
    pen.ellipse((0.0, 0.0), 0.3, 0.16, "body")
    root = (0.2, -0.06)
    head = _neck(pen, root, 0.12, 0.075, -PI / 2 + 0.6 + 0.35 * pose.neck)
    tilt = 0.3 * pose.head
    for side in (-1.0, 1.0):  # pointed ears, half hidden by the head
        ear = [(side * 0.03, -0.08), (side * 0.16, -0.04), (side * 0.13, -0.25)]
        pen.polygon([turn(head, u, v, tilt) for u, v in ear], "body")
    pen.ellipse(head, 0.165, 0.145, "body", angle=tilt)
    return Anchors(eyes=turn(head, 0.035, -0.01, tilt), eye_radius=0.055, eye_gap=0.125,
                   top=turn(head, 0.0, -0.13, tilt), top_width=0.24,
                   neck=turn(head, -0.02, 0.16, tilt), neck_width=0.18, tilt=tilt)


def dog(pen: Pen, pose: Pose) -> Anchors:
    _legs(pen, (-0.2, 0.2), 0.06, 0.25, 0.058, pose.stride)
    chain(pen, (-0.27, -0.06), PI + 1.0 + 0.4 * pose.tail, [(0.18, 0.042)], curl=0.0)
    pen.ellipse((0.0, 0.0), 0.31, 0.17, "body")
    head = _neck(pen, (0.21, -0.06), 0.13, 0.085, -PI / 2 + 0.5 + 0.35 * pose.neck)
    tilt = 0.3 * pose.head
    pen.ellipse(turn(head, 0.15, 0.05, tilt), 0.11, 0.07, "body", angle=tilt)  # snout
    pen.ellipse(head, 0.155, 0.14, "body", angle=tilt)
    pen.ellipse(turn(head, 0.25, 0.02, tilt), 0.035, 0.03, "dark", angle=tilt)  # nose
    pen.ellipse(turn(head, -0.1, 0.04, tilt), 0.055, 0.12, "far", angle=tilt + 0.25)  # floppy ear
    return Anchors(eyes=turn(head, 0.03, -0.04, tilt), eye_radius=0.053, eye_gap=0.12,
                   top=turn(head, 0.0, -0.13, tilt), top_width=0.24,
                   neck=turn(head, -0.04, 0.16, tilt), neck_width=0.18, tilt=tilt)


def rabbit(pen: Pen, pose: Pose) -> Anchors:
    _legs(pen, (-0.12, 0.12), 0.1, 0.16, 0.055, 0.6 * pose.stride)
    pen.ellipse((-0.27, -0.02 - 0.05 * pose.tail), 0.07, 0.07, "light")  # puff tail
    pen.ellipse((-0.02, 0.02), 0.26, 0.2, "body")
    head = _neck(pen, (0.14, -0.1), 0.08, 0.08, -PI / 2 + 0.45 + 0.4 * pose.neck)
    tilt = 0.3 * pose.head
    for du, lean in ((-0.05, -0.25), (0.06, 0.12)):  # long upright ears
        pen.ellipse(turn(head, du + 0.5 * math.sin(lean) * 0.28, -0.23, tilt), 0.048, 0.15, "body", angle=tilt + lean)
    pen.ellipse(head, 0.15, 0.14, "body", angle=tilt)
    return Anchors(eyes=turn(head, 0.03, -0.01, tilt), eye_radius=0.052, eye_gap=0.12,
                   top=turn(head, 0.0, -0.12, tilt), top_width=0.23,
                   neck=turn(head, -0.03, 0.15, tilt), neck_width=0.17, tilt=tilt)


def giraffe(pen: Pen, pose: Pose) -> Anchors:
    _legs(pen, (-0.17, 0.15), 0.04, 0.36, 0.04, 0.7 * pose.stride)
    chain(pen, (-0.26, -0.04), PI - 1.0 + 0.35 * pose.tail, [(0.17, 0.02)], curl=0.0)
    pen.ellipse((-0.05, 0.0), 0.25, 0.14, "body")
    head = _neck(pen, (0.12, -0.04), 0.42, 0.06, -PI / 2 + 0.35 + 0.25 * pose.neck)
    tilt = 0.3 * pose.head
    for du in (-0.05, 0.0):  # ossicones
        pen.capsule(turn(head, du, -0.04, tilt), turn(head, du - 0.02, -0.13, tilt), 0.018, "body")
    pen.ellipse(turn(head, 0.05, 0.0, tilt), 0.13, 0.08, "body", angle=tilt)
    return Anchors(eyes=turn(head, 0.02, -0.02, tilt), eye_radius=0.048, eye_gap=0.105,
                   top=turn(head, 0.01, -0.07, tilt), top_width=0.2,
                   neck=turn(head, -0.07, 0.14, tilt), neck_width=0.17, tilt=tilt)


def elephant(pen: Pen, pose: Pose) -> Anchors:
    _legs(pen, (-0.2, 0.17), 0.1, 0.22, 0.075, 0.6 * pose.stride)
    chain(pen, (-0.33, -0.04), PI - 0.9 + 0.35 * pose.tail, [(0.14, 0.02)], curl=0.0)
    pen.ellipse((-0.03, 0.0), 0.33, 0.23, "body")
    head = reach((0.2, -0.02), 0.14, -0.6 - 0.35 * pose.neck)
    tilt = 0.25 * pose.head
    chain(pen, turn(head, 0.12, 0.06, tilt), PI / 2 - 0.35 + tilt,
           [(0.1, 0.05), (0.1, 0.043), (0.08, 0.036)], curl=-0.3 * pose.head - 0.1)  # trunk
    pen.ellipse(head, 0.17, 0.16, "body", angle=tilt)
    pen.ellipse(turn(head, -0.1, 0.03, tilt), 0.1, 0.15, "far", angle=tilt)  # ear
    return Anchors(eyes=turn(head, 0.06, -0.04, tilt), eye_radius=0.055, eye_gap=0.115,
                   top=turn(head, 0.0, -0.15, tilt), top_width=0.25,
                   neck=turn(head, -0.14, 0.16, tilt), neck_width=0.18, tilt=tilt)


def bird(pen: Pen, pose: Pose) -> Anchors:
    for du, lean in ((0.03, 0.25 * pose.stride), (-0.06, -0.25 * pose.stride)):  # thin legs and toes
        hip = (du, 0.12)
        foot = reach(hip, 0.2, PI / 2 + lean)
        pen.capsule(hip, foot, 0.022, "beak")
        pen.capsule(foot, (foot[0] + 0.07, foot[1]), 0.018, "beak")
    tail = PI + 0.3 + 0.4 * pose.tail
    pen.polygon([(-0.15, -0.03), reach((-0.15, -0.03), 0.3, tail - 0.25), reach((-0.15, -0.03), 0.3, tail + 0.25)], "far")
    pen.ellipse((0.0, 0.0), 0.24, 0.18, "body", angle=-0.2)
    pen.ellipse((-0.05, -0.01), 0.15, 0.08, "far", angle=-0.35 + 0.3 * pose.stride)  # wing
    head = reach((0.12, -0.08), 0.15, -PI / 2 + 0.55 + 0.35 * pose.neck)
    tilt = 0.3 * pose.head
    pen.polygon([turn(head, u, v, tilt) for u, v in ((0.1, -0.05), (0.1, 0.04), (0.27, 0.0))], "beak")
    pen.ellipse(head, 0.14, 0.14, "body", angle=tilt)
    return Anchors(eyes=turn(head, 0.03, -0.03, tilt), eye_radius=0.052, eye_gap=0.11,
                   top=turn(head, 0.0, -0.12, tilt), top_width=0.22,
                   neck=turn(head, -0.04, 0.14, tilt), neck_width=0.16, tilt=tilt)


DRAWERS = {"cat": cat, "dog": dog, "rabbit": rabbit, "giraffe": giraffe, "elephant": elephant, "bird": bird}
