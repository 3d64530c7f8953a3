"""The subject's own coordinate frame: u points the way it faces, v points down, one unit = `s` pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    cx: float      # pixel position of the frame origin
    cy: float
    s: float       # pixels per subject unit
    facing: float  # +1: u points right on screen; -1: mirrored

    def point(self, u: float, v: float) -> tuple[float, float]:
        return self.cx + self.facing * u * self.s, self.cy + v * self.s

    def angle(self, a: float) -> float:
        """Screen angle of a centrally symmetric shape (ellipse, box) turned by `a` in the frame."""
        return a if self.facing > 0 else -a

    def local(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame coordinates (u, v) of pixel-centre grids."""
        return (xs - self.cx) * (self.facing / self.s), (ys - self.cy) / self.s


def turn(origin: tuple[float, float], du: float, dv: float, angle: float) -> tuple[float, float]:
    """origin + (du, dv) rotated by `angle`: a point fixed to a tilted part such as a head."""
    c, s = math.cos(angle), math.sin(angle)
    return origin[0] + du * c - dv * s, origin[1] + du * s + dv * c


def reach(origin: tuple[float, float], length: float, angle: float) -> tuple[float, float]:
    """The end of a limb of `length` leaving `origin` in direction `angle` (0: forward, pi/2: down)."""
    return origin[0] + length * math.cos(angle), origin[1] + length * math.sin(angle)
