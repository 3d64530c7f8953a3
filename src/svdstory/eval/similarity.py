"""Cosine similarities between embeddings: pure functions over (n, d) tensors."""
from __future__ import annotations

import torch
from torch import Tensor


def normalize(x: Tensor) -> Tensor:
    return x.float() / x.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """(n, d), (m, d) -> (n, m) cosine similarities."""
    return normalize(a) @ normalize(b).T


def paired_cosine(a: Tensor, b: Tensor) -> Tensor:
    """Row i of `a` against row i of `b`: (n,) cosines (CLIP-T: image i against prompt i)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired_cosine: {a.shape[0]} rows against {b.shape[0]}")
    return (normalize(a) * normalize(b)).sum(-1)


def pairwise_mean(x: Tensor) -> float:
    """Mean cosine over the n(n-1)/2 distinct pairs of rows; nan for a single row."""
    n = x.shape[0]
    if n < 2:
        return float("nan")
    sims = cosine_matrix(x, x)
    i, j = torch.triu_indices(n, n, offset=1)
    return float(sims[i, j].mean())


def mean_to_others(x: Tensor) -> Tensor:
    """(n,) mean cosine of each row to the other rows: the per-image share of `pairwise_mean`."""
    n = x.shape[0]
    if n < 2:
        return torch.full((n,), float("nan"))
    sims = cosine_matrix(x, x)
    return (sims.sum(1) - sims.diagonal()) / (n - 1)
