"""Statistics of the report: seeded bootstrap intervals over stories, paired method comparisons, Holm's adjustment."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TIE = 1e-9  # per-story differences this small count as ties (and as zeros for the signed-rank test)


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float  # 95% (or `level`) percentile-bootstrap interval of the mean
    high: float
    n: int


@dataclass(frozen=True)
class Paired:
    """A against B on one metric, over the stories both have; a win is A better in the metric's direction."""

    metric: str
    n: int
    wins: int
    losses: int
    ties: int
    diff: Estimate  # mean of A - B (raw, not direction-adjusted) with a paired bootstrap interval
    p_value: float  # two-sided Wilcoxon signed-rank test of the differences


def finite(values) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_ci(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Estimate:
    """Mean and percentile interval from resampling the values (stories) with replacement
    (`scipy.stats.bootstrap`, seeded)."""
    from scipy.stats import bootstrap

    x = finite(values)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if len(x) == 1 or np.all(x == x[0]):  # nothing to resample: the interval is the value
        return Estimate(mean, mean, mean, len(x))
    result = bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile",
                       rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Estimate(mean, float(min(low, mean)), float(max(high, mean)), len(x))


def paired_comparison(a: dict, b: dict, metric: str, higher_is_better: bool = True, n_boot: int = 2000,
                      seed: int = 0) -> Paired:
    """a, b: story -> value. Stories missing or non-finite on either side are left out."""
    diffs = differences(a, b)
    better = diffs if higher_is_better else -diffs
    wins, losses = int((better > 0).sum()), int((better < 0).sum())
    return Paired(metric, len(diffs), wins, losses, len(diffs) - wins - losses,
                  bootstrap_ci(diffs, n_boot, seed), signed_rank_p(diffs))


def paired_difference(a: dict, b: dict, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """The mean of a - b over the stories both have, with a paired bootstrap interval (no test: cheaper)."""
    return bootstrap_ci(differences(a, b), n_boot, seed)


def differences(a: dict, b: dict) -> np.ndarray:
    """a - b per story both have finite values of, in story order; differences within TIE are 0."""
    stories = sorted(s for s in set(a) & set(b) if _ok(a[s]) and _ok(b[s]))
    diffs = np.array([a[s] - b[s] for s in stories], dtype=float)
    diffs[np.abs(diffs) <= TIE] = 0.0
    return diffs


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values (the same order; NaN stays NaN and is not counted): a row's adjusted
    p below alpha keeps the family-wise error rate of all rows at alpha."""
    order = sorted((p, i) for i, p in enumerate(p_values) if p == p)
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))  # adjusted values never decrease with p
        adjusted[i] = running
    return adjusted


def _ok(v) -> bool:
    return v is not None and math.isfinite(v)


def signed_rank_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zero differences are dropped; 1.0 when nothing differs."""
    if len(diffs) == 0:
        return math.nan
    if not np.any(diffs):
        return 1.0
    from scipy.stats import wilcoxon

    return float(wilcoxon(diffs, zero_method="wilcox").pvalue)
