"""Draws shapes given in the subject's frame onto the subject layer, with a dark cartoon outline.

The layer starts empty; its mask is the union of every stamp drawn (outlines included), so it is
exactly the set of subject pixels.
"""

from __future__ import annotations

import numpy as np

from svdstory.world import shapes
from svdstory.world.frame import Frame
from svdstory.world.palette import Paint
from svdstory.world.pixels import blank, pack

Point = tuple[float, float]


class Pen:
    """Holds the layer being drawn: `canvas` (packed colours) and `mask` (the subject's pixels)."""

    def __init__(self, size: int, frame: Frame, roles: dict[str, Paint]):
        self.size = size
        self.frame = frame
        self.roles = {role: (pack(colour), texture) for role, (colour, texture) in roles.items()}
        self.canvas = blank(size)  # packed colours (pixels.py), 0 off the subject
        self.mask = np.zeros((size, size), dtype=bool)
        self.line = max(1, round(size / 128))  # outline thickness grows with the image

    def ellipse(self, centre: Point, rx: float, ry: float, role: str, angle: float = 0.0, outline: bool = True):
        f = self.frame
        x, y = f.point(*centre)
        self._paint(shapes.ellipse(self.size, x, y, rx * f.s, ry * f.s, f.angle(angle), self._pad(outline)), role, outline)

    def box(self, centre: Point, hw: float, hh: float, role: str, angle: float = 0.0, outline: bool = True):
        f = self.frame
        x, y = f.point(*centre)
        self._paint(shapes.box(self.size, x, y, hw * f.s, hh * f.s, f.angle(angle), self._pad(outline)), role, outline)

    def capsule(self, a: Point, b: Point, r: float, role: str, outline: bool = True):
        f = self.frame
        stamp = shapes.capsule(self.size, f.point(*a), f.point(*b), r * f.s, self._pad(outline))
        self._paint(stamp, role, outline)

    def polygon(self, points, role: str, outline: bool = True):
        stamp = shapes.polygon(self.size, [self.frame.point(u, v) for u, v in points], self._pad(outline))
        self._paint(stamp, role, outline)

    def ring(self, centre: Point, rx: float, ry: float, width: float, role: str, outline: bool = True):
        f = self.frame
        x, y = f.point(*centre)
        self._paint(shapes.ring(self.size, x, y, rx * f.s, ry * f.s, width * f.s, self._pad(outline)), role, outline)

    def _pad(self, outline: bool) -> int:
        return self.line if outline else 0

    def _paint(self, stamp: shapes.Stamp, role: str, outline: bool) -> None:
        colour, texture = self.roles[role]
        canvas, covered = self.canvas[stamp.window], self.mask[stamp.window]  # views into the layer
        drawn = stamp.mask
        if outline:  # the outline is a ring grown around the shape, painted first
            drawn = shapes.dilate(stamp.mask, self.line)
            canvas[drawn] = self.roles["outline"][0]
        canvas[stamp.mask] = colour
        covered |= drawn
        if texture is not None:
            canvas[stamp.mask & texture.covers(*stamp.grid())] = texture.packed
