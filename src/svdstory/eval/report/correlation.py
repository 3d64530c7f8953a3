"""Rank correlations over stories (`scipy.stats.spearmanr`): how closely one metric tracks another, per method
and pooled over methods. The report's "Metric agreement" table asks it of the proxies a bench holds (CLIP-I,
DINO, DreamSim, identity_embed; CLIP-T) against SynthWorld's exact measures (identity_attr; prompt_alignment).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..metric_info import ROLES, arrow
from .doc import Heading, Table, Text

MIN_STORIES = 3  # fewer pairs give no correlation
PERMUTATION_UP_TO = 10  # stories: below, p from a permutation test (exact up to 7); above, scipy's t approximation


@dataclass(frozen=True)
class Correlation:
    n: int  # stories (or method-story pairs) with both values
    rho: float  # Spearman's rank correlation; NaN with fewer than MIN_STORIES or a constant column
    p: float  # two-sided test of rho = 0


def spearman(x: dict, y: dict) -> Correlation:
    """x, y: key (a story, or a (method, story) pair) -> value; over the keys both hold finite values."""
    from scipy.stats import spearmanr

    keys = sorted(k for k in set(x) & set(y) if math.isfinite(x[k]) and math.isfinite(y[k]))
    xs, ys = [x[k] for k in keys], [y[k] for k in keys]
    if len(keys) < MIN_STORIES or len(set(xs)) < 2 or len(set(ys)) < 2:
        return Correlation(len(keys), math.nan, math.nan)
    result = spearmanr(xs, ys)
    p = float(result.pvalue) if len(keys) > PERMUTATION_UP_TO else permutation_p(xs, ys)
    return Correlation(len(keys), float(result.statistic), p)


def permutation_p(xs, ys, seed: int = 0) -> float:
    """Two-sided p of Spearman's rho from re-pairing the values (`scipy.stats.permutation_test`): the t
    approximation says p = 0 for any perfect correlation, also of 4 stories (exactly 1/12)."""
    import numpy as np
    from scipy.stats import permutation_test, rankdata

    rx = rankdata(xs) - (len(xs) + 1) / 2  # centred ranks: Spearman's rho is their Pearson correlation

    def rho(ry, axis=-1):
        ry = ry - ry.mean(axis=axis, keepdims=True)
        return (ry * rx).sum(axis) / np.sqrt((ry ** 2).sum(axis) * (rx ** 2).sum())

    result = permutation_test((rankdata(ys),), rho, permutation_type="pairings", vectorized=True,
                              n_resamples=9999, rng=np.random.default_rng(seed))
    return float(result.pvalue)


def pooled(data, x: str, y: str, stories=None) -> Correlation:
    """Over every (method, story) of the bench."""
    values = lambda metric: {(m, s): v for m in data.methods  # noqa: E731
                             for s, v in data.story_values(m, metric, stories).items()}
    return spearman(values(x), values(y))


def correlation_cell(c: Correlation) -> str:
    return "-" if c.rho != c.rho else f"{c.rho:+.2f} (p {c.p:.2g}, n {c.n})"


def default_pairs(metrics) -> list[tuple[str, str]]:
    """(proxy, exact) pairs the bench holds: each role's first metric (SynthWorld's exact one) against the others."""
    return [(proxy, names[0]) for names in ROLES.values() if names[0] in metrics
            for proxy in names[1:] if proxy in metrics]


def agreement_section(data, pairs) -> list:
    """Rows: each method, then pooled; columns: the metric pairs."""
    pairs = [p for p in pairs if any(data.story_values(m, p[0]) and data.story_values(m, p[1]) for m in data.methods)]
    if not pairs:
        return []
    header = ("method", *[f"{a} {arrow(a)} ~ {b} {arrow(b)}" for a, b in pairs])
    rows = [(m, *[correlation_cell(spearman(data.story_values(m, a), data.story_values(m, b))) for a, b in pairs])
            for m in data.methods]
    rows.append(("pooled", *[correlation_cell(pooled(data, a, b)) for a, b in pairs]))
    return [Heading("Metric agreement over stories"),
            Text("Spearman's rank correlation of two metrics over a method's stories, and pooled over every "
                 "(method, story); p: the two-sided test of no correlation; '-': fewer than 3 stories or a "
                 "metric constant over them. A lower-is-better metric (↓) that tracks a higher-is-better one "
                 "correlates negatively."),
            Table(header, tuple(rows))]
