"""Colours of the subject: the attribute colour, its pattern, and fixed colours of parts and features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svdstory.world.frame import Frame
from svdstory.world.pixels import pack

Colour = tuple[int, int, int]

MAIN: dict[str, Colour] = {
    "red": (215, 35, 40), "orange": (250, 135, 20), "yellow": (250, 215, 40),
    "green": (45, 175, 65), "blue": (40, 90, 225), "purple": (145, 60, 200),
}

# Fixed colours, none of them close to a MAIN colour, so that parts and features never pass for the body.
FIXED: dict[str, Colour] = {
    "outline": (24, 22, 30), "dark": (42, 40, 48), "grey": (155, 155, 165), "glass": (175, 225, 250),
    "white": (250, 250, 250), "pupil": (12, 12, 18), "glow": (60, 245, 255), "beak": (250, 165, 40),
    "hat": (30, 30, 36), "band": (205, 35, 55), "crown": (255, 205, 30), "bow": (255, 80, 175),
    "inner": (70, 45, 40), "bulb": (255, 244, 190),
}

PERIOD = 0.11       # pattern repeat, in subject units, so patterns keep their size relative to the subject
SPOT_RADIUS = 0.034


def scaled(colour: Colour, factor: float) -> Colour:
    return tuple(int(min(255, c * factor)) for c in colour)


def mixed(colour: Colour, other: Colour, weight: float) -> Colour:
    return tuple(int(round(c * (1 - weight) + o * weight)) for c, o in zip(colour, other))


def contrast(colour: Colour) -> Colour:
    """The pattern colour: a dark shade of light colours, a light tint of dark ones."""
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return scaled(colour, 0.4) if luma > 120 else mixed(colour, (255, 255, 255), 0.62)


@dataclass(frozen=True)
class Texture:
    """A pattern drawn in the subject's frame, so it moves, scales and mirrors with the subject."""

    kind: str      # a value of ATTRIBUTES["pattern"] other than "plain"
    colour: Colour
    frame: Frame

    @property
    def packed(self) -> np.uint32:
        return pack(self.colour)

    def covers(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        u, v = self.frame.local(ys, xs)  # (1, w), (h, 1)
        u, v = u / PERIOD, v / PERIOD
        if self.kind == "striped":
            return (u % 1.0) < 0.5
        if self.kind == "checked":
            return (np.floor(u) + np.floor(v)) % 2 == 0
        row = np.round(v)
        shifted = u + 0.5 * (row % 2)  # alternate rows offset by half a period: a staggered grid of spots
        du, dv = shifted - np.round(shifted), v - row
        return du * du + dv * dv <= (SPOT_RADIUS / PERIOD) ** 2


Paint = tuple[Colour, "Texture | None"]


def paints(attributes: dict[str, str], frame: Frame) -> dict[str, Paint]:
    """Role name -> (fill colour, pattern or None) for one subject's attributes."""
    main = MAIN[attributes["color"]]
    kind = attributes["pattern"]

    def textured(colour: Colour) -> Paint:
        if kind == "plain":
            return colour, None
        return colour, Texture(kind, contrast(main) if colour == main else scaled(contrast(main), 0.8), frame)

    roles = {name: (colour, None) for name, colour in FIXED.items()}
    roles.update(body=textured(main), far=textured(scaled(main, 0.72)), light=textured(mixed(main, (255, 255, 255), 0.3)),
                 lid=(scaled(main, 0.8), None))
    return roles
