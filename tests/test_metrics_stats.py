"""Bootstrap intervals and paired comparisons on hand-made numbers."""
import math

import numpy as np
import pytest

from svdstory.eval.report.stats import bootstrap_ci, paired_comparison, signed_rank_p


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.6]
    e = bootstrap_ci(values, n_boot=500, seed=3)
    assert e.mean == pytest.approx(np.mean(values)) and e.n == 7
    assert min(values) <= e.low < e.mean < e.high <= max(values)
    assert bootstrap_ci(values, n_boot=500, seed=3) == e
    assert bootstrap_ci(values, n_boot=500, seed=4) != e


def test_bootstrap_edge_cases():
    constant = bootstrap_ci([0.5] * 5)
    assert (constant.low, constant.mean, constant.high) == pytest.approx((0.5, 0.5, 0.5))
    assert bootstrap_ci([0.7, None, float("nan")]).n == 1
    assert math.isnan(bootstrap_ci([]).mean)


def test_wider_spread_gives_a_wider_interval():
    narrow = bootstrap_ci([0.5, 0.51, 0.49, 0.5, 0.52, 0.48], seed=0)
    wide = bootstrap_ci([0.1, 0.9, 0.3, 0.7, 0.2, 0.8], seed=0)
    assert (wide.high - wide.low) > 5 * (narrow.high - narrow.low)


def test_paired_comparison_counts_wins_in_the_metric_direction():
    a = {"s1": 0.9, "s2": 0.8, "s3": 0.5, "s4": 0.7, "only_a": 1.0}
    b = {"s1": 0.7, "s2": 0.8, "s3": 0.6, "s4": 0.4, "only_b": 0.0}
    up = paired_comparison(a, b, "clip_i", higher_is_better=True, n_boot=300)
    assert (up.n, up.wins, up.losses, up.ties) == (4, 2, 1, 1)
    assert up.diff.mean == pytest.approx((0.2 + 0.0 - 0.1 + 0.3) / 4)
    down = paired_comparison(a, b, "dreamsim", higher_is_better=False, n_boot=300)
    assert (down.wins, down.losses, down.ties) == (1, 2, 1)
    assert down.diff.mean == pytest.approx(up.diff.mean)  # the difference itself is not flipped


def test_signed_rank_p_values():
    assert signed_rank_p(np.zeros(6)) == 1.0
    consistent = signed_rank_p(np.array([0.1, 0.2, 0.15, 0.3, 0.05, 0.12, 0.22, 0.18, 0.09, 0.11]))
    mixed = signed_rank_p(np.array([0.1, -0.2, 0.15, -0.3, 0.05, -0.12, 0.22, -0.18, 0.09, -0.11]))
    assert consistent < 0.01 < 0.3 < mixed
