"""World v2's hidden background attributes drawn into pixels: the horizon band, one landmark and
the lighting, a global tint over the finished image."""

from __future__ import annotations

import numpy as np

from svdstory.world.backdrop import disc, jitter, oval, rect, stroke, triangle
from svdstory.world.catalog import BACKGROUND_ATTRIBUTES
from svdstory.world.scenes import LINES

BAND_OFFSET = 0.12  # distance between horizon bands, fraction of the side (v1's ranges span about 0.1)
BAND_JITTER = 0.03  # uniform jitter inside a band, so bands never touch (0.12 - 2 * 0.03 > 0)


def line_height(scene: str, horizon: str, rng: np.random.Generator) -> float:
    """Height (from the top, 0..1) of the scene's horizon line in band `horizon` ("high" is nearer the top)."""
    centre = sum(LINES[scene]) / 2
    band = BACKGROUND_ATTRIBUTES["horizon"].index(horizon) - 1  # -1, 0, +1
    return float(centre + band * BAND_OFFSET + rng.uniform(-BAND_JITTER, BAND_JITTER))


def lowest_line(scene: str, horizon: str) -> float:
    """The lowest the line of this band can be: props stand below it whatever the jitter."""
    centre = sum(LINES[scene]) / 2
    return centre + (BACKGROUND_ATTRIBUTES["horizon"].index(horizon) - 1) * BAND_OFFSET + BAND_JITTER


LANDMARK_TRIES = 12     # places tried for the landmark
LANDMARK_HIDDEN = 0.2   # the most of it that the subject may cover at the first place accepted


def draw_landmark(img: np.ndarray, kind: str, line: float, rng: np.random.Generator,
                  covered: np.ndarray | None = None) -> None:
    """One landmark of `kind` on the ground just below `line` (a balloon floats in the sky above it).

    `covered` (H, W) bool: the pixels that the subject will be drawn over. The landmark goes
    to the first of LANDMARK_TRIES places where at most LANDMARK_HIDDEN of it is covered (the least
    covered otherwise), so that its kind shows in the image, as a background label must."""
    best = None
    for _ in range(LANDMARK_TRIES if covered is not None else 1):
        trial = img.copy()
        _draw_landmark(trial, kind, line, rng)
        drawn = trial != img
        hidden = float((drawn & covered).sum() / max(1, drawn.sum())) if covered is not None else 0.0
        if best is None or hidden < best[0]:
            best = (hidden, trial)
        if hidden <= LANDMARK_HIDDEN:
            break
    img[...] = best[1]


def _draw_landmark(img: np.ndarray, kind: str, line: float, rng: np.random.Generator) -> None:
    x, s = rng.uniform(0.08, 0.92), rng.uniform(0.075, 0.11)  # position and size, fractions of the side
    base = min(0.97, line + rng.uniform(0.02, 0.1))
    if kind == "rock":
        colour = jitter(rng, (120, 115, 110), 12)
        oval(img, x, base - 0.35 * s, 0.6 * s, 0.38 * s, colour)
        oval(img, x - 0.15 * s, base - 0.5 * s, 0.25 * s, 0.12 * s, tuple(min(255, c + 40) for c in colour))
    elif kind == "barrel":
        wood = jitter(rng, (140, 85, 40), 10)
        rect(img, x - 0.35 * s, base - 1.1 * s, x + 0.35 * s, base, wood)
        for f in (0.25, 0.75):
            rect(img, x - 0.35 * s, base - (1.1 * f + 0.04) * s, x + 0.35 * s, base - (1.1 * f - 0.04) * s, (60, 60, 66))
    elif kind == "flag":
        stroke(img, (x, base), (x, base - 1.6 * s), 0.012, (70, 70, 75))
        cloth = jitter(rng, ((230, 40, 60), (40, 120, 230), (250, 250, 250))[rng.integers(3)], 10)
        triangle(img, [(x, base - 1.6 * s), (x, base - 1.05 * s), (x + 0.8 * s, base - 1.33 * s)], cloth)
    elif kind == "balloon":
        y = max(0.1, min(line - 0.12, rng.uniform(0.1, 0.35)))
        stroke(img, (x, y + 0.5 * s), (x + 0.05 * s, y + 1.3 * s), 0.006, (60, 60, 60))
        disc(img, x, y, 0.5 * s, jitter(rng, ((240, 60, 80), (250, 200, 40), (120, 90, 230))[rng.integers(3)], 10))
    else:
        raise ValueError(f"unknown landmark {kind!r}")


# image * MUL + ADD per lighting (noon: unchanged); overcast also pulls colours towards grey
MUL = {"noon": (1.0, 1.0, 1.0), "sunset": (1.0, 0.83, 0.62), "twilight": (0.62, 0.62, 0.85), "overcast": (0.8, 0.8, 0.8)}
ADD = {"noon": (0, 0, 0), "sunset": (28, 10, 0), "twilight": (10, 6, 34), "overcast": (12, 12, 14)}
GREY = {"noon": 0.0, "sunset": 0.0, "twilight": 0.0, "overcast": 0.45}


def light(image: np.ndarray, lighting: str) -> np.ndarray:
    """The lit image: uint8 (H, W, 3) -> uint8 (H, W, 3)."""
    if lighting == "noon":
        return image
    x = image.astype(np.float32)
    grey = GREY[lighting]
    if grey:
        x = (1 - grey) * x + grey * x.mean(-1, keepdims=True)
    x = x * np.asarray(MUL[lighting], np.float32) + np.asarray(ADD[lighting], np.float32)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
