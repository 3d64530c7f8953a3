"""Zeroing strategies: spectra `s (..., r) -> s'` (same shape) with the small values set to zero.

Against background leakage, the weak directions of what crosses between images are removed.
None of these relies on `s` being sorted: "the k largest" is found by value, so a chain that
reweights first still zeroes the right entries.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def top_mask(s: Tensor, k: Tensor | int) -> Tensor:
    """Boolean mask of the `k` largest entries along the last dim; `k` may be (..., 1)."""
    order = torch.argsort(s, dim=-1, descending=True, stable=True)
    position = torch.arange(s.shape[-1], device=s.device)
    in_sorted = position < (k if isinstance(k, Tensor) else torch.tensor(k, device=s.device))
    mask = torch.zeros_like(s, dtype=torch.bool)
    return mask.scatter(-1, order, in_sorted.expand_as(s))


def keep_rank(s: Tensor, k: int) -> Tensor:
    """Keep the `k` largest singular values."""
    return torch.where(top_mask(s, k), s, 0.0)


def keep_energy(s: Tensor, p: float) -> Tensor:
    """Keep the fewest largest values whose energy sum(s^2) reaches a fraction `p` of the total."""
    energy = torch.sort(s, dim=-1, descending=True).values.square()  # (..., r)
    # Value i is needed iff the energy from i on exceeds (1 - p) of the total. Summing the tail
    # from the small end keeps tiny values visible, so p = 1 keeps every nonzero value.
    tail = energy.flip(-1).cumsum(dim=-1).flip(-1)  # (..., r), tail[..., 0] is the total
    k = (tail > (1.0 - p) * tail[..., :1]).sum(dim=-1, keepdim=True)  # (..., 1)
    return torch.where(top_mask(s, k), s, 0.0)


def hard_threshold(s: Tensor, threshold: Tensor | float) -> Tensor:
    """Keep the values at or above `threshold` (a number or a (..., 1) tensor)."""
    return torch.where(s >= threshold, s, 0.0)


def relative_threshold(s: Tensor, tau: float) -> Tensor:
    """Keep the values at or above `tau * s_max`."""
    return hard_threshold(s, tau * s.amax(dim=-1, keepdim=True))


def soft_threshold(s: Tensor, lam: float, relative: bool = True) -> Tensor:
    """s <- max(s - lambda, 0), with lambda = `lam * s_max` if `relative`, else `lam`."""
    shift = lam * s.amax(dim=-1, keepdim=True) if relative else lam
    return (s - shift).clamp(min=0.0)


def aspect_ratio(shape: tuple[int, int]) -> float:
    """beta = min(m, n) / max(m, n) of an m x n matrix."""
    m, n = shape
    return min(m, n) / max(m, n)


def gd_lambda(beta: float) -> float:
    """lambda*(beta) of Gavish & Donoho (2014): the known-noise threshold coefficient, 4/sqrt(3) at 1."""
    return math.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + math.sqrt(beta**2 + 14 * beta + 1)))


def gd_omega(beta: float) -> float:
    """omega(beta) of Gavish & Donoho (2014): the unknown-noise coefficient, by their cubic fit."""
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def gd_threshold(s: Tensor, shape: tuple[int, int], sigma: float | None = None) -> Tensor:
    """Optimal hard threshold (..., 1) for an m x n matrix with spectrum `s`.

    Unknown noise: omega(beta) * median(s), where `s` must hold all min(m, n) values.
    Known noise level `sigma` per entry: lambda*(beta) * sqrt(max(m, n)) * sigma.
    """
    beta = aspect_ratio(shape)
    if sigma is not None:
        value = gd_lambda(beta) * math.sqrt(max(shape)) * sigma
        return torch.full_like(s[..., :1], value)
    return gd_omega(beta) * torch.quantile(s, 0.5, dim=-1, keepdim=True)


def gavish_donoho(s: Tensor, shape: tuple[int, int], sigma: float | None = None) -> Tensor:
    """Hard-threshold `s` at the Gavish-Donoho optimal threshold (see `gd_threshold`)."""
    return hard_threshold(s, gd_threshold(s, shape, sigma))
