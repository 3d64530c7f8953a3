"""A scatter plot of one metric against another (matplotlib): a faint dot per story and method, a large dot
per method at its mean with 95% interval bars. An axis whose metric is lower-is-better is drawn inverted, so
up and right are always better.
"""
from __future__ import annotations

import io
from dataclasses import dataclass


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


def axis_for(title: str, values, inverted: bool = False) -> Axis:
    values = [v for v in values if v == v]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.01)
    return Axis(title, low - pad, high + pad, inverted)


def scatter_image(series: list[Series], x: Axis, y: Axis):
    """The plot as a PIL image."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or opened
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=100, layout="constrained")
    try:
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, s in enumerate(series):
            color = colors[k % len(colors)]
            if s.points:
                ax.scatter(*zip(*s.points), s=14, color=color, alpha=0.45, linewidths=0)
            xerr = [[s.mean[0] - s.x_ci[0]], [s.x_ci[1] - s.mean[0]]]
            yerr = [[s.mean[1] - s.y_ci[0]], [s.y_ci[1] - s.mean[1]]]
            ax.errorbar(*s.mean, xerr=xerr, yerr=yerr, fmt="o", markersize=7, color=color, label=s.label[:24])
        for axis, set_lim, set_label, where in ((x, ax.set_xlim, ax.set_xlabel, "right"),
                                                (y, ax.set_ylim, ax.set_ylabel, "up")):
            set_lim((axis.high, axis.low) if axis.inverted else (axis.low, axis.high))
            set_label(f"{axis.title}{' (axis inverted)' if axis.inverted else ''}  ({where} is better)")
        ax.grid(alpha=0.3)
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
