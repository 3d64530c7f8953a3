"""A scatter plot of prompt alignment against identity consistency, drawn with Pillow (no matplotlib).

One faint dot per story and method, one large dot per method at its mean with 95% interval bars.
An axis whose metric is lower-is-better is drawn inverted, so up and right are always better.
"""
from __future__ import annotations

from dataclasses import dataclass

COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
WIDTH, HEIGHT = 720, 480
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 30, 50  # margins: the legend sits in the right one


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple  # ((x, y), ...) per story
    mean: tuple  # (x, y)
    x_ci: tuple  # (low, high)
    y_ci: tuple


@dataclass(frozen=True)
class Axis:
    title: str
    low: float
    high: float
    inverted: bool = False

    def to_unit(self, v: float) -> float:
        t = (v - self.low) / (self.high - self.low)
        return 1.0 - t if self.inverted else t


def axis_for(title: str, values, inverted: bool = False) -> Axis:
    values = [v for v in values if v == v]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.01)
    return Axis(title, low - pad, high + pad, inverted)


def scatter_image(series: list[Series], x: Axis, y: Axis):
    """The plot as a PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    _frame(draw, font, x, y)
    for k, s in enumerate(series):
        color = COLORS[k % len(COLORS)]
        faint = tuple(int(c + (255 - c) * 0.6) for c in color)
        for px, py in s.points:
            _dot(draw, _pixel(x, y, px, py), 2, faint)
        cx, cy = _pixel(x, y, *s.mean)
        (x0, _), (x1, _) = _pixel(x, y, s.x_ci[0], s.mean[1]), _pixel(x, y, s.x_ci[1], s.mean[1])
        (_, y0), (_, y1) = _pixel(x, y, s.mean[0], s.y_ci[0]), _pixel(x, y, s.mean[0], s.y_ci[1])
        draw.line([(x0, cy), (x1, cy)], fill=color, width=2)
        draw.line([(cx, y0), (cx, y1)], fill=color, width=2)
        _dot(draw, (cx, cy), 6, color)
        ly = TOP + 10 + 18 * k
        _dot(draw, (WIDTH - RIGHT + 22, ly + 6), 5, color)
        draw.text((WIDTH - RIGHT + 34, ly), s.label[:24], fill="black", font=font)
    return img


def _pixel(x: Axis, y: Axis, vx: float, vy: float) -> tuple[float, float]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    return LEFT + x.to_unit(vx) * plot_w, TOP + (1.0 - y.to_unit(vy)) * plot_h


def _dot(draw, center, r: float, color) -> None:
    cx, cy = center
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)


def _frame(draw, font, x: Axis, y: Axis) -> None:
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    draw.rectangle([LEFT, TOP, right, bottom], outline="black")
    for i in range(5):
        vx = x.low + (x.high - x.low) * (i + 0.5) / 5
        px, _ = _pixel(x, y, vx, y.low)
        draw.line([(px, bottom), (px, bottom + 4)], fill="black")
        draw.text((px - 14, bottom + 6), f"{vx:.3g}", fill="black", font=font)
        vy = y.low + (y.high - y.low) * (i + 0.5) / 5
        _, py = _pixel(x, y, x.low, vy)
        draw.line([(LEFT - 4, py), (LEFT, py)], fill="black")
        draw.text((8, py - 6), f"{vy:.3g}", fill="black", font=font)
    draw.text((LEFT, HEIGHT - 18), _title(x) + "  (right is better)", fill="black", font=font)
    draw.text((LEFT, 8), _title(y) + "  (up is better)", fill="black", font=font)


def _title(axis: Axis) -> str:
    return axis.title + (" (axis inverted)" if axis.inverted else "")
