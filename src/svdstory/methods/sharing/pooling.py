"""Fewer shared tokens: average each anchor's keys/values over k x k patches of its token grid.

A pooled token stands for k*k tokens, so attention gives it the weight of k*k copies (a logit bias
of log(k*k), "proportional attention"): sharing keeps its mass while the extended attention sees
k*k times fewer anchor tokens. Our approximation, for speed; `anchor_pool=1` (the default) is exact.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def poolable(grid: tuple[int, int], k: int) -> bool:
    """Pool a layer only where k divides its grid, so every pooled token covers exactly k*k."""
    return k > 1 and grid[0] % k == 0 and grid[1] % k == 0


def pool_bias(k: int) -> float:
    return math.log(k * k)


def pool_tokens(x: torch.Tensor, grid: tuple[int, int], n_anchors: int, k: int) -> torch.Tensor:
    """(..., A*T, C) with T = h*w tokens per anchor -> (..., A*T/k^2, C), anchor slots kept in order."""
    h, w = grid
    lead, C = x.shape[:-2], x.shape[-1]
    maps = x.reshape(-1, n_anchors, h, w, C).permute(0, 1, 4, 2, 3).reshape(-1, C, h, w)
    pooled = F.avg_pool2d(maps, k)  # (N*A, C, h/k, w/k)
    out = pooled.reshape(-1, n_anchors, C, (h // k) * (w // k)).permute(0, 1, 3, 2)
    return out.reshape(*lead, -1, C)
