"""A scatter plot of one metric against another (matplotlib, files only: no backend or display is chosen).

One point per method or setting at its mean, with 95% interval bars; each point carries a number that the
legend beside the plot resolves to its label, so dozens of settings stay readable. The Pareto front of the
means (the points no other point beats on both axes) is drawn as a dashed line through ringed points, and its
members are bold in the legend. With a few series, a faint dot per story shows the spread. An axis whose metric
is lower-is-better is drawn inverted, so up and right are always better.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

from .pareto import pareto_front

DPI = 100
STORY_DOTS_UP_TO = 8  # series; with more, the per-story dots hide the means
LEGEND_ROWS = 40  # legend entries per column
LABEL_CHARS = 48  # a legend label longer than this is cut
MARKERS = "os^Dv<>PX*"  # with more series than colours, the marker tells apart those of one colour
# Where a point's number may go, in points from the point (first free one wins): NE, SE, NW, SW, E, W, N, S.
OFFSETS = ((5, 4), (5, -12), (-12, 4), (-12, -12), (7, -4), (-14, -4), (-3, 8), (-3, -16))
CHAR_W, CHAR_H = 5.5, 9.0  # points: the size of one character of a point's number
LEGEND_W = 3.6  # inches per legend column beside the plot


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple  # ((x, y), ...) per story; may be empty
    mean: tuple  # (x, y)
    x_ci: tuple  # (low, high)
    y_ci: tuple


@dataclass(frozen=True)
class Axis:
    title: str
    low: float
    high: float
    inverted: bool = False  # lower is better: drawn from high to low, so that right / up is better


def axis_for(title: str, values, inverted: bool = False) -> Axis:
    values = [v for v in values if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.01)
    return Axis(title, low - pad, high + pad, inverted)


def style(k: int, n: int) -> tuple:
    """(colour, marker) of series k of n: matplotlib's tab10 up to 10 series, tab20 beyond, markers beyond 20."""
    from matplotlib import colormaps

    colours = colormaps["tab10" if n <= 10 else "tab20"].colors
    return colours[k % len(colours)], MARKERS[(k // len(colours)) % len(MARKERS)]


def scatter_png(series: list[Series], x: Axis, y: Axis, reference: tuple | None = None) -> bytes:
    """The plot as PNG bytes. `reference` (x, y): a point marked by a horizontal and a vertical line (e.g.
    vanilla's zero gain)."""
    from matplotlib.figure import Figure

    columns = max(1, math.ceil(len(series) / LEGEND_ROWS))
    rows = math.ceil(len(series) / columns) if series else 0
    fig = Figure(figsize=(7.0 + LEGEND_W * columns, max(4.8, 0.16 * rows + 0.9)), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    for axis, set_lim, set_label, where in ((x, ax.set_xlim, ax.set_xlabel, "right"),
                                            (y, ax.set_ylim, ax.set_ylabel, "up")):
        set_lim((axis.high, axis.low) if axis.inverted else (axis.low, axis.high))
        set_label(f"{axis.title}{' (axis inverted)' if axis.inverted else ''}  ({where} is better)")
    ax.grid(alpha=0.3)
    if reference is not None:
        ax.axvline(reference[0], color="0.55", lw=0.8, zorder=0)
        ax.axhline(reference[1], color="0.55", lw=0.8, zorder=0)
    front = pareto_front([s.mean for s in series], (not x.inverted, not y.inverted))
    handles = [_draw(ax, s, *style(k, len(series)), len(series) <= STORY_DOTS_UP_TO) for k, s in enumerate(series)]
    _number(ax, _points_transform(ax, fig, columns), series)
    labels = [f"{k}  {_cut(s.label)}" for k, s in enumerate(series, start=1)]
    if front:
        handles.append(_draw_front(ax, [series[i].mean for i in front]))
        labels.append("Pareto front (bold)")
    if handles:
        legend = fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False, ncols=columns)
        for i in front:
            legend.get_texts()[i].set_fontweight("bold")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _cut(label: str) -> str:
    """Long labels lose their middle: settings of one method differ at the end of their spec."""
    if len(label) <= LABEL_CHARS:
        return label
    head = (LABEL_CHARS - 1) // 2
    return label[:head] + "…" + label[len(label) - (LABEL_CHARS - 1 - head):]


def _draw(ax, s: Series, colour, marker: str, story_dots: bool):
    from matplotlib.lines import Line2D

    if story_dots and s.points:
        ax.scatter(*zip(*s.points), s=14, color=colour, alpha=0.4, linewidths=0, marker=marker)
    xerr = [[max(0.0, s.mean[0] - s.x_ci[0])], [max(0.0, s.x_ci[1] - s.mean[0])]]
    yerr = [[max(0.0, s.mean[1] - s.y_ci[0])], [max(0.0, s.y_ci[1] - s.mean[1])]]
    ax.errorbar(*s.mean, xerr=xerr, yerr=yerr, fmt=marker, markersize=6, capsize=2, elinewidth=1, color=colour)
    return Line2D([], [], marker=marker, color=colour, linestyle="", markersize=6)


def _draw_front(ax, means: list[tuple]):
    """A dashed line through the front's points (in order along x) and a ring around each."""
    ordered = sorted(means)
    ax.plot(*zip(*ordered), linestyle="--", color="0.35", lw=1, zorder=1)
    ax.scatter(*zip(*ordered), s=170, facecolors="none", edgecolors="0.35", linewidths=1, zorder=1)
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="--", color="0.35", marker="o", markerfacecolor="none", markersize=9)


def _number(ax, to_points, series: list[Series]) -> None:
    """Each point's number beside it, at the first offset whose box meets no number placed before and no
    point (a greedy placement; the numbers of many close points may still touch)."""
    points = [to_points(s.mean) for s in series]
    taken = [(px - 4, py - 4, px + 4, py + 4) for px, py in points]  # the markers themselves
    for k, (s, (px, py)) in enumerate(zip(series, points), start=1):
        text = str(k)
        w = CHAR_W * len(text)
        boxes = [(px + dx, py + dy, px + dx + w, py + dy + CHAR_H) for dx, dy in OFFSETS]
        free = [b for b in boxes if not any(_overlap(b, t) for t in taken)]
        box = (free or boxes)[0]
        taken.append(box)
        ax.annotate(text, s.mean, xytext=(box[0] - px, box[1] - py), textcoords="offset points", fontsize=8,
                    ha="left", va="bottom", color=_darker(style(k - 1, len(series))[0]), fontweight="bold")


def _darker(colour) -> tuple:
    """The series' colour made dark enough for text (tab20's pale half is hard to read on white)."""
    return tuple(0.7 * c for c in colour[:3])


def _points_transform(ax, fig, legend_columns: int):
    """Data -> points inside the axes (an estimate: the axes' final size is known only after layout)."""
    to_fraction = ax.transLimits  # data -> axes fraction, whatever the axes' place in the figure
    width, height = fig.get_size_inches()
    axes_w, axes_h = (width - LEGEND_W * legend_columns) * 72 * 0.85, height * 72 * 0.85

    def to_points(xy):
        fx, fy = to_fraction.transform(xy)
        return fx * axes_w, fy * axes_h

    return to_points


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
