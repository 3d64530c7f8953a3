"""`spectral_filter(M, fn)`: the matrix U diag(fn(s)) V^T, by the cheapest route available."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .decompose import compute_dtype, output_dtype, subspace_basis, tall_gram_factors
from .select import check_method, choose_method, decompose

# fn(s, shape) -> s': s is (..., r) descending, shape is the matrices' (m, n); same shape out.
SpectrumFn = Callable[[Tensor, tuple[int, int]], Tensor]


def _apply(fn: SpectrumFn, s: Tensor, shape: tuple[int, int], energy: Tensor | None = None) -> Tensor:
    """fn over the spectrum. With the matrices' total `energy` (squared Frobenius norm, (...,)) and
    fewer values than min(m, n) (a rank-capped decomposition), fn sees the whole spectrum: the known
    top values, then the unknown rest as equal values holding the remaining energy exactly. Energy rules then decide as on the full
    spectrum whenever they keep no more than the known values, and median-based thresholds
    (Gavish-Donoho) see a full-length spectrum. Only the known values come back."""
    full, k = min(shape), s.shape[-1]
    if energy is not None and k < full:
        rest = (energy - (s * s).sum(-1)).clamp_min(0) / (full - k)
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
    return (XV * _gains(s, f).unsqueeze(-2)) @ V.mT


def _gains(s: Tensor, f: Tensor) -> Tensor:
    """f / s per direction, 0 where s is zero to rounding (s_i <= eps * s_max)."""
    keep = s > s.amax(dim=-1, keepdim=True) * torch.finfo(s.dtype).eps
    return torch.where(keep, f / torch.where(keep, s, 1.0), 0.0)  # (..., r)


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
    return ((U * _apply(fn, S, shape, (X * X).sum(dim=(-2, -1))).unsqueeze(-2)) @ Vh).to(out)


def right_basis(M: Tensor, method: str = "auto", rank: int | None = None) -> Tensor:
    """The right singular vectors `V (..., n, r)` of matrices `M (..., m, n)`, descending, in float32
    (float64 stays): the eigenvectors of M^T M, see `basis_from_gram`."""
    return basis_from_gram(gram_matrix(M), method, rank)


def gram_matrix(M: Tensor) -> Tensor:
    """X^T X of matrices `M (..., m, n)`, in float32 (float64 stays)."""
    X = M.to(compute_dtype(output_dtype(M)))
    return X.mT @ X


def filter_in_basis(M: Tensor, fn: SpectrumFn, V: Tensor, G: Tensor | None = None) -> Tensor:
    """`spectral_filter` with the right singular vectors given, e.g. kept from an earlier step:
    M (V diag(f(s) / s) V^T) with s re-measured in that basis (see `filter_matrix`), one product
    with an n x n matrix, in M's dtype. Exact when V is M's own basis; no decomposition."""
    out = output_dtype(M)
    G = gram_matrix(M) if G is None else G
    Mc = M if M.is_floating_point() else M.to(out)
    return (Mc @ filter_matrix(G, V, fn, (M.shape[-2], M.shape[-1])).to(Mc.dtype)).to(out)


def filter_matrix(G: Tensor, V: Tensor, fn: SpectrumFn, shape: tuple[int, int]) -> Tensor:
    """The n x n matrix V diag(f(s) / s) V^T that filters matrices M (m x n = `shape`) whose Gram
    matrix is `G = M^T M`, in the right basis `V (..., n, r)`.

    The singular values are measured in that basis, s_i^2 = v_i^T G v_i, and sorted; a rank-capped
    V (r < n) leaves the tail energy trace(G) minus the kept part, which `fn` sees as in
    `spectral_filter`. M times this matrix is M projected onto span(V) with its values replaced by fn's.
    """
    V = V.to(G.dtype)
    s = ((G @ V) * V).sum(dim=-2).clamp_min(0).sqrt()  # (..., r)
    s, order = torch.sort(s, dim=-1, descending=True)
    V = V.gather(-1, order.unsqueeze(-2).expand_as(V))
    f = _apply(fn, s, shape, G.diagonal(dim1=-2, dim2=-1).sum(-1))
    return (V * _gains(s, f).unsqueeze(-2)) @ V.mT


def basis_from_gram(G: Tensor, method: str = "auto", rank: int | None = None) -> Tensor:
    """`right_basis` from Gram matrices `G (..., n, n)` alone: their top eigenvectors, descending.

    With a rank, only the top `rank`: by subspace iteration on G for the `subspace` and
    `randomized` routes (every step batched), from `linalg.eigh` for the others (`exact`, `gram`,
    `auto`: with only G at hand, all three are its eigendecomposition).
    """
    if check_method(method) in ("subspace", "randomized") and rank is not None and rank < G.shape[-1]:
        return subspace_basis(G, rank)
    return torch.linalg.eigh(G).eigenvectors.flip(-1)[..., :rank]  # a rank caps every route
