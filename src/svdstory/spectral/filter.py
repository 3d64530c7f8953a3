"""`spectral_filter(M, fn)`: the matrix U diag(fn(s)) V^T, by the cheapest route available."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .decompose import compute_dtype, factors_in_basis, output_dtype, tall_gram_factors
from .select import check_method, choose_method, decompose

# fn(s, shape) -> s': s is (..., r) descending, shape is the matrices' (m, n); same shape out.
SpectrumFn = Callable[[Tensor, tuple[int, int]], Tensor]


def _apply(fn: SpectrumFn, s: Tensor, shape: tuple[int, int], X: Tensor | None = None) -> Tensor:
    """fn over the spectrum. With the matrices `X` and fewer values than min(m, n) (a rank-capped
    decomposition), fn sees the whole spectrum: the known top values, then the unknown rest as
    equal values holding X's remaining energy exactly. Energy rules then decide as on the full
    spectrum whenever they keep no more than the known values, and median-based thresholds
    (Gavish-Donoho) see a full-length spectrum. Only the known values come back."""
    full, k = min(shape), s.shape[-1]
    if X is not None and k < full:
        rest = ((X * X).sum(dim=(-2, -1)) - (s * s).sum(-1)).clamp_min(0) / (full - k)
        s = torch.cat([s, rest.sqrt().unsqueeze(-1).expand(*s.shape[:-1], full - k)], dim=-1)
    filtered = fn(s, shape)
    if filtered.shape != s.shape:
        raise ValueError(f"spectrum function changed the shape {tuple(s.shape)} -> {tuple(filtered.shape)}")
    return filtered[..., :k].to(s.dtype)


def _filter_gram(X: Tensor, fn: SpectrumFn, shape: tuple[int, int]) -> Tensor:
    """U diag(f(s)) V^T = (X V) diag(f(s) / s) V^T: no explicit U, and no division where s ~ 0."""
    wide = X.shape[-2] < X.shape[-1]
    if wide:
        X = X.mT  # (..., n, m): keep the Gram matrix on the small side
    s, V, XV = tall_gram_factors(X)
    out = _recompose(s, V, XV, _apply(fn, s, shape))  # (..., m, n) of the tall orientation
    return out.mT if wide else out


def _recompose(s: Tensor, V: Tensor, XV: Tensor, f: Tensor) -> Tensor:
    """(X V) diag(f / s) V^T. Only s ~ 0 to rounding is skipped: above that (X V)_i / s_i has unit
    norm, so the ratio is safe and an identity f reproduces X even for the tiny directions."""
    keep = s > s.amax(dim=-1, keepdim=True) * torch.finfo(s.dtype).eps
    ratio = torch.where(keep, f / torch.where(keep, s, 1.0), 0.0)  # (..., r)
    return (XV * ratio.unsqueeze(-2)) @ V.mT


def spectral_filter(M: Tensor, fn: SpectrumFn, method: str = "auto", rank: int | None = None) -> Tensor:
    """Replace the singular values of each matrix in `M (..., m, n)` by `fn(s, (m, n))`.

    `method` names a registered decomposition; "auto" takes the Gram route for tall or wide
    matrices. With `rank` (required by "randomized" and "subspace") only the top `rank` triplets
    are kept, so the result is also truncated to that rank (a cap); `fn` sees the whole spectrum,
    its unknown tail filled in from the exact remaining energy (see `_apply`).
    Computes in float32 and returns `M`'s dtype.
    """
    name = check_method(method)
    if name == "auto":
        name = choose_method(tuple(M.shape))
    out = output_dtype(M)
    X = M.to(compute_dtype(out))
    shape = (M.shape[-2], M.shape[-1])
    if name == "gram" and rank is None:
        return _filter_gram(X, fn, shape).to(out)
    U, S, Vh = decompose(X, name, rank)
    return ((U * _apply(fn, S, shape, X).unsqueeze(-2)) @ Vh).to(out)


def right_basis(M: Tensor, method: str = "auto", rank: int | None = None) -> Tensor:
    """The right singular vectors `V (..., n, r)` of tall matrices `M (..., m, n)`, in float32."""
    name = check_method(method)
    if name == "auto":
        name = choose_method(tuple(M.shape))
    X = M.to(compute_dtype(output_dtype(M)))
    if name == "gram" and rank is None:
        return tall_gram_factors(X)[1]
    return decompose(X, name, rank).Vh.mT


def filter_in_basis(M: Tensor, fn: SpectrumFn, V: Tensor) -> Tensor:
    """`spectral_filter` with the right singular vectors given, e.g. kept from an earlier step.

    The singular values are re-measured as the norms of M V (exact when V is M's own basis), put
    in descending order, and the result is M projected onto span(V) with those values replaced by
    fn's: (M V) diag(f(s) / s) V^T. Only matrix products: no decomposition.
    """
    out = output_dtype(M)
    X = M.to(compute_dtype(out))
    s, V, XV = factors_in_basis(X, V.to(X.dtype))
    return _recompose(s, V, XV, _apply(fn, s, (M.shape[-2], M.shape[-1]), X)).to(out)
