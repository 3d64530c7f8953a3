"""Pooled anchor tokens: a pooled token weighs as the k*k tokens it averages."""
import math

import torch

from svdstory.attention.extended import anchor_keys
from svdstory.attention.extended import AnchorSlots
from svdstory.methods.sharing.pooling import pool_tokens, poolable
from svdstory.state import BatchLayout

H, D, GRID = 2, 4, (4, 6)
T = GRID[0] * GRID[1]


def test_pool_tokens_averages_each_anchors_patches_in_order():
    x = torch.arange(2 * 3 * T, dtype=torch.float64).reshape(1, 2 * T, 3)  # (chunks, A*T, C), 2 anchors
    pooled = pool_tokens(x, GRID, n_anchors=2, k=2)
    assert pooled.shape == (1, 2 * T // 4, 3)
    grid = x.reshape(2, *GRID, 3)
    first = grid[0, :2, :2].reshape(-1, 3).mean(0)  # anchor 0, top-left patch
    last = grid[1, 2:, 4:].reshape(-1, 3).mean(0)  # anchor 1, bottom-right patch
    torch.testing.assert_close(pooled[0, 0], first)
    torch.testing.assert_close(pooled[0, -1], last)
    assert poolable(GRID, 2) and not poolable(GRID, 4) and not poolable(GRID, 1)


def test_the_bias_makes_a_pooled_token_count_as_the_tokens_it_stands_for():
    layout = BatchLayout(3, True)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, H, T, D, generator=g, dtype=torch.float64) for _ in range(3))
    anchors = [0, 1]
    sk = pool_tokens(anchor_keys(k, layout, anchors), GRID, 2, 2)
    sv = pool_tokens(anchor_keys(v, layout, anchors), GRID, 2, 2)
    ours = AnchorSlots(tuple(anchors), math.log(4)).attend(q, k, v, sk, sv, layout, D ** -0.5)
    # the same attention with every pooled token written out four times, in its own slot
    rep = lambda x: x.view(2, H, 2, -1, D).repeat_interleave(4, dim=3).reshape(2, H, -1, D)
    expected = AnchorSlots(tuple(anchors)).attend(q, k, v, rep(sk), rep(sv), layout, D ** -0.5)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)


def test_pooling_runs_end_to_end_and_changes_the_images(runs):
    _, plain = runs("sd", "shared", {})
    _, pooled = runs("sd", "shared", {"anchor_pool": 2})
    _, svd_pooled = runs("sd", "svd", {"anchor_pool": 2, "target": "hidden"})
    assert torch.isfinite(pooled).all() and torch.isfinite(svd_pooled).all()
    assert (pooled - plain).abs().amax() > 1e-3
    assert (pooled - plain).abs().mean() < plain.abs().mean()
