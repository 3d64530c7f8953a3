"""Painting helpers for scene backgrounds: banded gradients, jittered palettes, scattered dots."""

from __future__ import annotations

import numpy as np

from svdstory.world import shapes
from svdstory.world.pixels import PACKED, pack

Colour = tuple[int, int, int]


def jitter(rng: np.random.Generator, colour: Colour, amount: float = 14.0) -> Colour:
    return tuple(int(c) for c in np.clip(np.asarray(colour) + rng.normal(0.0, amount, 3), 0, 255))


def bands(size: int, stops: list[tuple[float, Colour]]) -> np.ndarray:
    """A packed canvas whose rows blend between colour stops at heights 0..1 (a repeated height
    gives a hard edge)."""
    heights = np.array([h for h, _ in stops], dtype=np.float64)
    heights += np.arange(len(stops)) * 1e-6  # np.interp needs increasing stops
    rows = (np.arange(size) + 0.5) / size
    colours = np.array([c for _, c in stops], dtype=np.float64)  # (k, 3)
    column = np.zeros(size, dtype=PACKED)
    for ch in range(3):
        column |= np.interp(rows, heights, colours[:, ch]).astype(PACKED) << PACKED.type(8 * ch)
    return np.repeat(column[:, None], size, axis=1)  # (size, size)


def dots(image: np.ndarray, rng: np.random.Generator, count: int, top: float, bottom: float,
         colours: list[Colour], radius: int = 1) -> None:
    """Scatter square dots (stars, flowers, snowflakes) over the rows between heights top and bottom."""
    size = image.shape[0]
    ys = rng.integers(int(top * size), max(int(bottom * size), int(top * size) + 1), count)
    xs = rng.integers(0, size, count)
    picks = np.array([pack(c) for c in colours], dtype=PACKED)[rng.integers(0, len(colours), count)]
    for dy in range(radius):
        for dx in range(radius):
            image[np.minimum(ys + dy, size - 1), np.minimum(xs + dx, size - 1)] = picks


def disc(image: np.ndarray, x: float, y: float, r: float, colour: Colour) -> None:
    """A filled circle, position and radius as fractions of the image side."""
    n = image.shape[0]
    shapes.fill(image, shapes.ellipse(n, x * n, y * n, r * n, r * n), pack(colour))


def oval(image: np.ndarray, x: float, y: float, rx: float, ry: float, colour: Colour) -> None:
    n = image.shape[0]
    shapes.fill(image, shapes.ellipse(n, x * n, y * n, rx * n, ry * n), pack(colour))


def rect(image: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
    n = image.shape[0]
    rows = slice(min(max(round(y0 * n), 0), n), min(max(round(y1 * n), 0), n))
    image[rows, min(max(round(x0 * n), 0), n):min(max(round(x1 * n), 0), n)] = pack(colour)


def triangle(image: np.ndarray, points, colour: Colour) -> None:
    n = image.shape[0]
    shapes.fill(image, shapes.polygon(n, [(x * n, y * n) for x, y in points]), pack(colour))


def stroke(image: np.ndarray, a, b, r: float, colour: Colour) -> None:
    n = image.shape[0]
    shapes.fill(image, shapes.capsule(n, (a[0] * n, a[1] * n), (b[0] * n, b[1] * n), r * n), pack(colour))
