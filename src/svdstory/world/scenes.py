"""The scene backgrounds. Scenes differ mainly in palette and composition (horizon, big
shapes); each draws its details (trees, buildings, stars, waves) at random from its own generator.
All positions are fractions of the image side, so every size gets the same picture. Each painter
returns a packed canvas (pixels.py).
"""

from __future__ import annotations

import numpy as np

from svdstory.world.backdrop import bands, disc, dots, jitter, oval, rect, stroke, triangle
from svdstory.world.pixels import pack


# The height (fraction of the side, from the top) of each scene's horizon, ground or floor line, as
# v1 draws it. World v2 (world/staging.py) moves it to one of three bands around the same centre.
LINES: dict[str, tuple[float, float]] = {
    "beach": (0.36, 0.48), "forest": (0.72, 0.82), "city": (0.74, 0.82), "snow": (0.45, 0.58),
    "desert": (0.45, 0.6), "night": (0.7, 0.82), "underwater": (0.8, 0.9), "room": (0.66, 0.76),
    "field": (0.42, 0.55), "mountain": (0.62, 0.72),
}


def _line(rng: np.random.Generator, scene: str, line: float | None) -> float:
    """The scene's horizon height: drawn as in v1 (the draw is always made, so the rest of the
    scene's details stay the same), or `line` when the caller fixes it."""
    drawn = rng.uniform(*LINES[scene])
    return drawn if line is None else line


def beach(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    horizon = _line(rng, "beach", line)
    shore = horizon + rng.uniform(0.12, 0.2)
    sand = j((238, 214, 160))
    img = bands(n, [(0, j((110, 185, 245))), (horizon, j((190, 230, 250))), (horizon, j((30, 120, 190))),
                    (shore, j((60, 175, 200))), (shore, (250, 250, 245)), (shore + 0.02, sand), (1, sand)])
    disc(img, rng.uniform(0.1, 0.9), rng.uniform(0.08, horizon - 0.12), 0.07, j((255, 235, 110)))
    for _ in range(rng.integers(3, 6)):  # wave crests
        x, y = rng.uniform(0, 1), rng.uniform(horizon + 0.03, shore - 0.03)
        stroke(img, (x - 0.08, y), (x + 0.08, y), 0.008, (235, 245, 250))
    return img


def forest(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    ground = _line(rng, "forest", line)
    img = bands(n, [(0, j((40, 90, 50))), (ground, j((80, 130, 70))), (ground, j((90, 70, 40))), (1, j((60, 90, 40)))])
    trunk = j((95, 60, 35))
    for x in np.sort(rng.uniform(0, 1, rng.integers(4, 7))):
        w = rng.uniform(0.025, 0.05)
        rect(img, x - w, 0, x + w, ground + rng.uniform(0, 0.06), trunk)
    for _ in range(rng.integers(5, 9)):  # canopy
        oval(img, rng.uniform(0, 1), rng.uniform(-0.05, 0.25), rng.uniform(0.12, 0.22), rng.uniform(0.08, 0.14),
             j((30, 110 + rng.integers(0, 50), 45)))
    return img


def city(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    road = _line(rng, "city", line)
    img = bands(n, [(0, j((150, 170, 195))), (road, j((205, 210, 220))), (road, j((70, 70, 78))), (1, j((55, 55, 62)))])
    x = rng.uniform(-0.1, 0.0)
    while x < 1.0:
        w, top = rng.uniform(0.12, 0.22), rng.uniform(0.12, 0.5)
        grey = int(rng.integers(95, 170))
        rect(img, x, top, x + w, road, j((grey, grey, grey + 10)))
        _windows(img, x + 0.02, top + 0.03, x + w - 0.02, road - 0.04, j((250, 225, 120)))
        x += w + rng.uniform(0.0, 0.03)
    for k in range(6):  # lane markings
        stroke(img, (k / 5 - 0.05, road + 0.1), (k / 5 + 0.03, road + 0.1), 0.008, (235, 235, 235))
    return img


def _windows(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    """A grid of lit windows inside a building front."""
    n = img.shape[0]
    c0, c1, r0, r1 = (min(max(int(v * n), 0), n) for v in (x0, x1, y0, y1))
    if c1 <= c0 or r1 <= r0:
        return
    step = max(4, n // 20)
    cols = (np.arange(c0, c1) - int(x0 * n)) % step < step // 2
    rows = (np.arange(r0, r1) - r0) % step < step // 2
    img[r0:r1, c0:c1][rows[:, None] & cols[None, :]] = pack(colour)


def snow(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c, 8)  # noqa: E731
    horizon = _line(rng, "snow", line)
    img = bands(n, [(0, j((170, 190, 215))), (horizon, j((225, 232, 242))), (horizon, j((245, 248, 252))),
                    (1, j((215, 228, 245)))])
    for _ in range(rng.integers(2, 5)):  # pines with snowy tips
        x, h = rng.uniform(0, 1), rng.uniform(0.15, 0.3)
        triangle(img, [(x - 0.07, horizon + 0.02), (x + 0.07, horizon + 0.02), (x, horizon - h)], j((40, 85, 70)))
        triangle(img, [(x - 0.025, horizon - h + 0.06), (x + 0.025, horizon - h + 0.06), (x, horizon - h)], (250, 250, 252))
    oval(img, rng.uniform(0, 1), horizon + 0.08, rng.uniform(0.3, 0.5), 0.08, j((250, 252, 255)))
    dots(img, rng, 70, 0.0, 1.0, [(255, 255, 255)], radius=max(1, n // 64))
    return img


def desert(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    horizon = _line(rng, "desert", line)
    img = bands(n, [(0, j((245, 170, 80))), (horizon, j((252, 225, 150))), (horizon, j((225, 175, 95))),
                    (1, j((200, 140, 70)))])
    disc(img, rng.uniform(0.1, 0.9), rng.uniform(0.1, horizon - 0.15), 0.08, j((255, 245, 200)))
    for _ in range(rng.integers(2, 4)):  # dunes
        oval(img, rng.uniform(0, 1), horizon + rng.uniform(0.05, 0.25), rng.uniform(0.3, 0.5), 0.09,
             j((235, 190, 110)))
    for _ in range(rng.integers(1, 3)):  # cacti
        x, base = rng.uniform(0.05, 0.95), horizon + rng.uniform(0.02, 0.1)
        cactus = j((70, 140, 60))
        stroke(img, (x, base), (x, base - 0.2), 0.025, cactus)
        stroke(img, (x + 0.06, base - 0.08), (x + 0.06, base - 0.15), 0.018, cactus)
        stroke(img, (x, base - 0.08), (x + 0.06, base - 0.08), 0.018, cactus)
    return img


def night(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c, 8)  # noqa: E731
    horizon = _line(rng, "night", line)
    sky = j((15, 20, 55))
    img = bands(n, [(0, sky), (horizon, j((45, 40, 95))), (horizon, j((20, 25, 35))), (1, j((10, 12, 20)))])
    dots(img, rng, 90, 0.0, horizon, [(255, 255, 255), (255, 240, 180), (200, 220, 255)], radius=max(1, n // 128))
    x, y = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.3)
    disc(img, x, y, 0.075, j((250, 245, 200)))
    disc(img, x + 0.035, y - 0.02, 0.065, sky)  # crescent cut
    for _ in range(rng.integers(1, 3)):  # dark hills
        oval(img, rng.uniform(0, 1), horizon + 0.02, rng.uniform(0.2, 0.4), 0.08, j((25, 30, 45)))
    return img


def underwater(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    floor = _line(rng, "underwater", line)
    img = bands(n, [(0, j((60, 200, 210))), (floor, j((10, 70, 130))), (floor, j((200, 185, 130))), (1, j((170, 150, 100)))])
    for _ in range(rng.integers(3, 6)):  # swaying seaweed
        x, y, lean = rng.uniform(0, 1), floor + 0.03, rng.uniform(-0.04, 0.04)
        weed = j((40, 150, 70))
        for k in range(3):
            stroke(img, (x + lean * (k % 2), y - 0.1 * k), (x + lean * ((k + 1) % 2), y - 0.1 * (k + 1)), 0.014, weed)
    for _ in range(rng.integers(6, 12)):  # bubbles
        x, y, r = rng.uniform(0, 1), rng.uniform(0, floor), rng.uniform(0.012, 0.028)
        water = img[min(int(y * n), n - 1), min(int(x * n), n - 1)]
        disc(img, x, y, r, (215, 245, 255))
        disc(img, x, y, r * 0.6, water)
    return img


def room(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c, 10)  # noqa: E731
    floor = _line(rng, "room", line)
    wall = j([(235, 215, 185), (200, 220, 200), (225, 205, 215)][rng.integers(0, 3)])
    wood = j((150, 100, 60))
    img = bands(n, [(0, wall), (floor, wall), (floor, (90, 60, 40)), (floor + 0.02, wood), (1, wood)])
    step = max(4, n // 10)
    img[int(floor * n) + 2:, ::step] = pack((110, 72, 44))  # floor boards
    x, y = rng.uniform(0.05, 0.55), rng.uniform(0.08, 0.2)
    rect(img, x, y, x + 0.34, y + 0.3, (245, 245, 240))  # window frame
    rect(img, x + 0.02, y + 0.02, x + 0.32, y + 0.28, j((150, 205, 245)))
    rect(img, x + 0.165, y, x + 0.175, y + 0.3, (245, 245, 240))
    px = (x + 0.5 + rng.uniform(0, 0.1)) % 0.85
    rect(img, px, 0.12, px + 0.13, 0.3, j((120, 80, 50)))  # picture
    rect(img, px + 0.02, 0.14, px + 0.11, 0.28, j((90, 140, 200)))
    return img


def field(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    horizon = _line(rng, "field", line)
    img = bands(n, [(0, j((70, 150, 240))), (horizon, j((170, 215, 250))), (horizon, j((110, 190, 70))),
                    (1, j((70, 150, 45)))])
    for _ in range(rng.integers(1, 3)):  # clouds
        x, y = rng.uniform(0.1, 0.9), rng.uniform(0.08, horizon - 0.15)
        for dx, r in ((-0.05, 0.04), (0.0, 0.055), (0.05, 0.04)):
            disc(img, x + dx, y, r, (250, 250, 252))
    oval(img, rng.uniform(0, 1), horizon + 0.03, rng.uniform(0.3, 0.5), 0.07, j((95, 175, 60)))
    dots(img, rng, 60, horizon + 0.05, 1.0, [(255, 255, 255), (250, 220, 40), (240, 70, 90)], radius=max(1, n // 64))
    return img


def mountain(rng: np.random.Generator, n: int, line: float | None = None) -> np.ndarray:
    j = lambda c: jitter(rng, c)  # noqa: E731
    base = _line(rng, "mountain", line)
    img = bands(n, [(0, j((90, 140, 210))), (base, j((200, 215, 235))), (base, j((70, 110, 60))), (1, j((45, 80, 45)))])
    for _ in range(rng.integers(2, 4)):
        x, peak, w = rng.uniform(0, 1), rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.45)
        triangle(img, [(x - w, base + 0.01), (x + w, base + 0.01), (x, peak)], j((110, 105, 130)))
        cap = 0.3 * (base - peak)  # snow cap: the top 30% of the same triangle
        triangle(img, [(x - w * cap / (base - peak), peak + cap), (x + w * cap / (base - peak), peak + cap), (x, peak)],
                 (245, 245, 250))
    return img


PAINTERS = {"beach": beach, "forest": forest, "city": city, "snow": snow, "desert": desert, "night": night,
            "underwater": underwater, "room": room, "field": field, "mountain": mountain}
