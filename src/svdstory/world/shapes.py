"""Boolean masks of simple shapes, each computed only over its own bounding window of the image.

Coordinates are in pixels with pixel (row i, column j) centred at (j + 0.5, i + 0.5); angles are in
radians, measured clockwise on screen because y points down. `pad` widens the window so that an
outline grown around the shape still fits in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stamp:
    """A shape's pixels: `mask` covers rows y0.. and columns x0.. of a square image."""

    y0: int
    x0: int
    mask: np.ndarray  # bool (h, w)

    @property
    def window(self) -> tuple[slice, slice]:
        h, w = self.mask.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates of the window: ys (h, 1), xs (w,)."""
        h, w = self.mask.shape
        return _centres(self.y0, self.y0 + h)[:, None], _centres(self.x0, self.x0 + w)


_TABLE = np.arange(4096, dtype=np.float32) + np.float32(0.5)  # pixel centres, sliced instead of rebuilt


def _centres(start: int, stop: int) -> np.ndarray:
    if stop <= _TABLE.shape[0]:
        return _TABLE[start:stop]
    return np.arange(start, stop, dtype=np.float32) + np.float32(0.5)


def _window(size: int, xmin: float, xmax: float, ymin: float, ymax: float, pad: int):
    """Clipped window around a bounding box: (y0, x0, ys (h, 1), xs (w,))."""
    x0 = min(max(math.floor(xmin) - pad, 0), size)
    y0 = min(max(math.floor(ymin) - pad, 0), size)
    x1 = max(min(math.ceil(xmax) + pad + 1, size), x0)
    y1 = max(min(math.ceil(ymax) + pad + 1, size), y0)
    return y0, x0, _centres(y0, y1)[:, None], _centres(x0, x1)


def _rotated(xs, ys, cx, cy, angle):
    """Coordinates along the shape's own axes: (u along `angle`, v across it)."""
    dx, dy = xs - cx, ys - cy
    if angle == 0.0:
        return dx, dy
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, dy * c - dx * s


def ellipse(size: int, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, pad: int = 0) -> Stamp:
    c, s = math.cos(angle), math.sin(angle)
    ex, ey = math.hypot(rx * c, ry * s), math.hypot(rx * s, ry * c)
    y0, x0, ys, xs = _window(size, cx - ex, cx + ex, cy - ey, cy + ey, pad)
    u, v = _rotated(xs, ys, cx, cy, angle)
    return Stamp(y0, x0, (u / rx) ** 2 + (v / ry) ** 2 <= 1.0)


def ring(size: int, cx: float, cy: float, rx: float, ry: float, width: float, pad: int = 0) -> Stamp:
    """An axis-aligned elliptic band `width` thick just inside the ellipse (rx, ry)."""
    y0, x0, ys, xs = _window(size, cx - rx, cx + rx, cy - ry, cy + ry, pad)
    dx, dy = xs - cx, ys - cy
    outer = (dx / rx) ** 2 + (dy / ry) ** 2 <= 1.0
    inner = (dx / (rx - width)) ** 2 + (dy / (ry - width)) ** 2 < 1.0
    return Stamp(y0, x0, outer & ~inner)


def box(size: int, cx: float, cy: float, hw: float, hh: float, angle: float = 0.0, pad: int = 0) -> Stamp:
    """A rectangle of half-width hw and half-height hh, turned by `angle` about its centre."""
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    ex, ey = hw * c + hh * s, hw * s + hh * c
    y0, x0, ys, xs = _window(size, cx - ex, cx + ex, cy - ey, cy + ey, pad)
    u, v = _rotated(xs, ys, cx, cy, angle)
    return Stamp(y0, x0, (np.abs(u) <= hw) & (np.abs(v) <= hh))


def capsule(size: int, a: tuple[float, float], b: tuple[float, float], r: float, pad: int = 0) -> Stamp:
    """Every pixel within r of the segment a-b: limbs, necks, tails, poles."""
    (ax, ay), (bx, by) = a, b
    y0, x0, ys, xs = _window(size, min(ax, bx) - r, max(ax, bx) + r, min(ay, by) - r, max(ay, by) + r, pad)
    dx, dy = bx - ax, by - ay
    px, py = xs - ax, ys - ay
    t = np.clip((px * dx + py * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)  # (h, w)
    qx, qy = px - t * dx, py - t * dy
    return Stamp(y0, x0, qx * qx + qy * qy <= r * r)


def polygon(size: int, points, pad: int = 0) -> Stamp:
    """A convex polygon, as the intersection of the half-planes of its edges (either winding)."""
    pts = [(float(x), float(y)) for x, y in points]
    xs_, ys_ = [p[0] for p in pts], [p[1] for p in pts]
    y0, x0, ys, xs = _window(size, min(xs_), max(xs_), min(ys_), max(ys_), pad)
    area2 = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]))
    sign = 1.0 if area2 >= 0 else -1.0
    inside = np.ones((ys.shape[0], xs.shape[0]), dtype=bool)
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1]):
        inside &= sign * ((bx - ax) * (ys - ay) - (by - ay) * (xs - ax)) >= 0
    return Stamp(y0, x0, inside)


def dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow a mask by `steps` pixels (4-neighbourhood), staying inside its array."""
    out = mask
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def fill(image: np.ndarray, stamp: Stamp, colour) -> None:
    """Paint a stamp into a packed canvas (see pixels.py) in place."""
    image[stamp.window][stamp.mask] = colour
