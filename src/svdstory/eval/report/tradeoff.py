"""What identity costs, as plots with a point per method or setting: prompt alignment against identity, and in
world v2 benches the identity gain over vanilla against background leakage and against layout agreement,
each point with 95% intervals on both axes and the Pareto front drawn."""
from __future__ import annotations

from pathlib import Path

from ..metric_info import higher_is_better
from .doc import FILES, Figure, Heading, Table, Text, cell, write_png
from .pareto import pareto_front
from .plot import Series, axis_for, scatter_png
from .stats import bootstrap_ci, paired_difference

COSTS = ("background_agreement", "layout_agreement")  # world v2: above vanilla, what sharing copies


def prompt_scatter_section(data, roles: dict, out: Path, n_boot: int, seed: int) -> list:
    px, py = roles["prompt"], roles["identity"]
    if px is None or py is None:
        return [Heading("Prompt alignment vs identity"), Text("This bench lacks a prompt or an identity metric.")]
    series = []
    for method in data.methods:
        xs, ys = data.story_values(method, px), data.story_values(method, py)
        points = tuple((xs[s], ys[s]) for s in sorted(set(xs) & set(ys)))
        if points:
            ex, ey = (bootstrap_ci([p[k] for p in points], n_boot, seed) for k in (0, 1))
            series.append(Series(method, points, (ex.mean, ey.mean), (ex.low, ex.high), (ey.low, ey.high)))
    x = axis_for(px, [p[0] for s in series for p in s.points], not higher_is_better(px))
    y = axis_for(py, [p[1] for s in series for p in s.points], not higher_is_better(py))
    path = write_png(out / FILES / "scatter.png", scatter_png(series, x, y))
    return [Heading("Prompt alignment vs identity"),
            Figure(path, f"{px} (x) against {py} (y): method means with 95% intervals (with a few methods, a faint "
                         "dot per story); the dashed line joins the Pareto front")]


def gain_sections(data, identity: str | None, out: Path, n_boot: int, seed: int) -> list:
    """Each method's paired difference from vanilla: identity (y) against each cost metric the bench holds (x)."""
    reference = data.vanilla()
    costs = [c for c in COSTS if c in data.metrics()]
    if reference is None or identity is None or not costs:
        return []
    others = [m for m in data.methods if m != reference]
    diff = lambda method, metric: paired_difference(  # noqa: E731
        data.story_values(method, metric), data.story_values(reference, metric), n_boot, seed)
    gains = {m: diff(m, identity) for m in others}
    shifts = {cost: {m: diff(m, cost) for m in others} for cost in costs}
    figures, fronts = [], {}
    for cost in costs:
        figure, fronts[cost] = _gain_plot(reference, identity, cost, gains, shifts[cost], out)
        figures.append(figure)
    header = ("method", "stories", f"{identity} gain [95% CI]", *[f"{c} − {reference} [95% CI]" for c in costs],
              "on the Pareto front of")
    rows = tuple((m, str(gains[m].n), cell(gains[m]), *[cell(shifts[c][m]) for c in costs],
                  ", ".join(c for c in costs if m in fronts[c]) or "-") for m in others)
    return [Heading(f"Identity gain over {reference}"),
            Text(f"Per method: the mean over stories of its {identity} minus {reference}'s on the same story (the "
                 "gain), against the same paired difference of what sharing may copy between images: "
                 "background_agreement (background leakage) and layout_agreement. 95% paired bootstrap intervals "
                 f"on both axes; {reference} is the origin; the dashed line joins the Pareto front.")
            ] + figures + [Table(header, rows)]


def _gain_plot(reference: str, identity: str, cost: str, gains: dict, shifts: dict, out: Path) -> tuple:
    """The plot's Figure block and the labels on its Pareto front (the reference included)."""
    kept = [m for m in gains if gains[m].n and shifts[m].n]
    series = [Series(reference, (), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))]
    series += [Series(m, (), (shifts[m].mean, gains[m].mean), (shifts[m].low, shifts[m].high),
                      (gains[m].low, gains[m].high)) for m in kept]
    x = axis_for(f"{cost} − {reference}", [v for s in series for v in s.x_ci], not higher_is_better(cost))
    y = axis_for(f"{identity} − {reference}", [v for s in series for v in s.y_ci], not higher_is_better(identity))
    path = write_png(out / FILES / f"gain-{cost}.png", scatter_png(series, x, y, reference=(0.0, 0.0)))
    front = {series[i].label for i in pareto_front([s.mean for s in series], (not x.inverted, not y.inverted))}
    return Figure(path, f"{identity} gain over {reference} (y) against {cost} above {reference} (x)"), front
