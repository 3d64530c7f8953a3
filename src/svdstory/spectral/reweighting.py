"""Reweighting strategies: spectra `s (..., r) -> s'` that rescale the kept values.

Zeros stay zeros under every strategy here, so reweighting after zeroing only touches the kept
directions. `preserve_norm` undoes the change of overall scale when asked to.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .zeroing import top_mask

# exp(60) * s stays finite in float32 for any singular value below ~1e11.
EXP_LIMIT = 60.0


def exp_reweight(s: Tensor, alpha: float, beta: float = 1.0) -> Tensor:
    """s <- beta * exp(alpha * s) * s, the singular-value reweighting of 1Prompt1Story (ICLR 2025).

    alpha > 0 enhances the dominant directions, alpha < 0 (with beta < 1) suppresses them. The
    exponent is clamped at EXP_LIMIT so the output stays finite.
    """
    return beta * torch.exp((alpha * s).clamp(max=EXP_LIMIT)) * s


def power_reweight(s: Tensor, gamma: float) -> Tensor:
    """s <- s_max * (s / s_max)^gamma: gamma < 1 flattens the spectrum, gamma > 1 sharpens it."""
    s_max = s.amax(dim=-1, keepdim=True)
    ratio = torch.where(s_max > 0, s / torch.where(s_max > 0, s_max, 1.0), 0.0).clamp(min=0.0)
    return s_max * ratio.pow(gamma)


def topk_boost(s: Tensor, k: int, factor: float) -> Tensor:
    """Multiply the `k` largest values by `factor`."""
    return torch.where(top_mask(s, k), s * factor, s)


def preserve_norm(s: Tensor, reference: Tensor) -> Tensor:
    """Rescale `s` so that sqrt(sum s^2) equals that of `reference` (an all-zero `s` stays zero).

    The Frobenius norm of U diag(s) V^T is the 2-norm of s, so this keeps the matrix's energy.
    """
    target = torch.linalg.vector_norm(reference, dim=-1, keepdim=True)
    current = torch.linalg.vector_norm(s, dim=-1, keepdim=True)
    scale = torch.where(current > 0, target / torch.where(current > 0, current, 1.0), 1.0)
    return s * scale
