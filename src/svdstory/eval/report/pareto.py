"""The Pareto front of points scored on two metrics: the points that no other point beats on both."""
from __future__ import annotations

import math


def dominates(p: tuple, q: tuple) -> bool:
    """p is at least as good as q on both coordinates and better on one (both already 'higher is better')."""
    return p[0] >= q[0] and p[1] >= q[1] and (p[0] > q[0] or p[1] > q[1])


def pareto_front(points, maximize: tuple[bool, bool] = (True, True)) -> list[int]:
    """Indices of the non-dominated points, in input order. `maximize` gives each coordinate's direction.
    A point with a non-finite coordinate is never on the front and dominates nothing; equal points are
    both on it (neither is better)."""
    signs = [1.0 if m else -1.0 for m in maximize]
    scored = [(signs[0] * x, signs[1] * y) if math.isfinite(x) and math.isfinite(y) else None for x, y in points]
    return [i for i, q in enumerate(scored)
            if q is not None and not any(p is not None and dominates(p, q) for p in scored)]
