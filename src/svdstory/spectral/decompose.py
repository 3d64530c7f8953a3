"""Singular value decompositions of batched matrices `(..., m, n)`, safe on degenerate inputs.

Every routine computes in float32 (float64 input stays float64, since downcasting it would only
lose precision) and returns tensors in the input's dtype, so fp16/bf16 attention tensors can be
passed straight in. Zero, rank-deficient and duplicate-spectrum inputs give finite outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Svd(NamedTuple):
    """A thin SVD `M ~= U diag(S) Vh`, singular values descending."""

    U: Tensor  # (..., m, r)
    S: Tensor  # (..., r)
    Vh: Tensor  # (..., r, n)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the spectral maths runs in: float64 stays, everything else becomes float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def output_dtype(M: Tensor) -> torch.dtype:
    """Results come back in the input's dtype; integer inputs get float32."""
    if M.is_complex():
        raise TypeError("spectral routines take real matrices, got a complex tensor")
    return M.dtype if M.is_floating_point() else torch.float32


def _check_matrix(M: Tensor) -> None:
    if M.dim() < 2:
        raise ValueError(f"expected a batch of matrices (..., m, n), got shape {tuple(M.shape)}")


def _cast(result: Svd, dtype: torch.dtype) -> Svd:
    return Svd(*(t.to(dtype) for t in result))


def numerical_rank_mask(s: Tensor, shape: tuple[int, int]) -> Tensor:
    """Directions above the rounding-noise tolerance max(m, n) * eps * s_max (as matrix_rank)."""
    tolerance = s.amax(dim=-1, keepdim=True) * max(shape) * torch.finfo(s.dtype).eps
    return s > tolerance


def svd(M: Tensor) -> Svd:
    """Exact thin SVD through `torch.linalg.svd`."""
    _check_matrix(M)
    out = output_dtype(M)
    U, S, Vh = torch.linalg.svd(M.to(compute_dtype(out)), full_matrices=False)
    return _cast(Svd(U, S, Vh), out)


def factors_in_basis(X: Tensor, V: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`(s, V, X V)` for a right basis `V (..., n, r)` of `X (..., m, n)`: s as the column norms of
    X V, columns of V and X V sorted by s, descending."""
    XV = X @ V  # (..., m, r)
    s, order = torch.sort(torch.linalg.vector_norm(XV, dim=-2), dim=-1, descending=True)
    pick = lambda A: A.gather(-1, order.unsqueeze(-2).expand_as(A))
    return s, pick(V), pick(XV)


def tall_gram_factors(X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`(s, V, X V)` of a tall matrix `X (..., m, n)`, m >= n, from the eigenvectors of X^T X.

    s is taken as the column norms of X V rather than sqrt of the eigenvalues: the Gram matrix
    squares the condition number, so its small eigenvalues are noise, whereas (X V) diag(1/s)
    diag(s) V^T = X V V^T = X holds to rounding for any orthonormal V. Columns are sorted by s.
    """
    # Normalising first keeps X^T X finite for large fp16-range values and away from underflow.
    scale = X.abs().amax(dim=(-2, -1), keepdim=True)  # (..., 1, 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    Xs = X / scale
    _, V = torch.linalg.eigh(Xs.mT @ Xs)  # (..., n, n); eigenvalues unused, see above
    s, V, XV = factors_in_basis(Xs, V)
    return s * scale.squeeze(-1), V, XV * scale


def gram_svd(M: Tensor) -> Svd:
    """Thin SVD of a tall-skinny (or, transposed, wide) matrix through its small Gram matrix.

    Far faster than `linalg.svd` on GPU for shapes like 4096 x 64. Directions below the numerical
    rank (see `numerical_rank_mask`) get zero left singular vectors instead of a division by ~0.
    """
    _check_matrix(M)
    out = output_dtype(M)
    X = M.to(compute_dtype(out))
    wide = X.shape[-2] < X.shape[-1]
    if wide:
        X = X.mT  # (..., n, m): the Gram matrix must be the small side
    s, V, XV = tall_gram_factors(X)
    keep = numerical_rank_mask(s, (X.shape[-2], X.shape[-1]))
    U = torch.where(keep.unsqueeze(-2), XV / torch.where(keep, s, 1.0).unsqueeze(-2), 0.0)
    if wide:
        U, V = V, U  # M = X^T = V diag(s) U^T
    return _cast(Svd(U, s, V.mT), out)


def _sketch(X: Tensor, width: int, generator: torch.Generator | None) -> Tensor:
    """A Gaussian test matrix (..., n, width) drawn without touching the global RNG."""
    if generator is None:
        # A private fixed-seed generator: the diffusion run's global RNG stream stays untouched.
        generator = torch.Generator(device=X.device).manual_seed(0)
    shape = (*X.shape[:-2], X.shape[-1], width)
    omega = torch.randn(shape, generator=generator, device=generator.device, dtype=X.dtype)
    return omega.to(X.device)


def randomized_svd(
    M: Tensor,
    rank: int,
    oversample: int = 8,
    iters: int = 2,
    generator: torch.Generator | None = None,
) -> Svd:
    """Rank-`rank` SVD by randomized range finding (Halko, Martinsson & Tropp 2011, Alg. 4.4).

    Falls back to the exact SVD when the sketch would span the whole row space anyway.
    """
    _check_matrix(M)
    if rank < 1 or oversample < 0 or iters < 0:
        raise ValueError(f"randomized_svd: bad rank={rank}, oversample={oversample} or iters={iters}")
    out = output_dtype(M)
    X = M.to(compute_dtype(out))
    k = min(rank, *X.shape[-2:])
    width = min(k + oversample, *X.shape[-2:])
    if width == min(X.shape[-2:]):
        U, S, Vh = torch.linalg.svd(X, full_matrices=False)
        return _cast(Svd(U[..., :k], S[..., :k], Vh[..., :k, :]), out)
    Q = torch.linalg.qr(X @ _sketch(X, width, generator)).Q  # (..., m, width)
    for _ in range(iters):
        # Re-orthonormalise between products so the small singular directions are not lost.
        Q = torch.linalg.qr(X.mT @ Q).Q  # (..., n, width)
        Q = torch.linalg.qr(X @ Q).Q  # (..., m, width)
    Ub, S, Vh = torch.linalg.svd(Q.mT @ X, full_matrices=False)  # from (..., width, n)
    U = Q @ Ub
    return _cast(Svd(U[..., :k], S[..., :k], Vh[..., :k, :]), out)


def _orthonormalise(Y: Tensor) -> Tensor:
    """Columns spanning `Y (..., n, w)` made orthonormal by Cholesky QR, twice (the second pass
    repairs what rounding left), with a small shift so rank-deficient inputs stay finite.

    Cholesky and triangular solves are batched kernels on GPUs, unlike `linalg.qr`, which loops.
    Call it in float64: Cholesky QR squares the condition number.
    """
    eye = torch.eye(Y.shape[-1], dtype=Y.dtype, device=Y.device)
    for _ in range(2):
        G = Y.mT @ Y  # (..., w, w)
        trace = G.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
        shift = trace * (Y.shape[-1] * torch.finfo(Y.dtype).eps) + torch.finfo(Y.dtype).tiny
        L = torch.linalg.cholesky_ex(G + shift * eye).L  # no error check: no host sync
        Y = torch.linalg.solve_triangular(L, Y.mT, upper=False).mT  # Y L^-T
    return Y


def subspace_basis(G: Tensor, rank: int, oversample: int = 8, iters: int = 2,
                   generator: torch.Generator | None = None) -> Tensor:
    """The top `rank` eigenvectors `(..., n, rank)` of symmetric positive semi-definite `G (..., n, n)`,
    descending, by subspace iteration: `iters` products with G and Cholesky QR from a Gaussian sketch
    of width rank + oversample, then a Rayleigh-Ritz eigenproblem of that width. Batched kernels
    only (cuSOLVER's batched Jacobi covers the Ritz problem up to 32 wide); float64 inside.
    """
    n = G.shape[-1]
    width = min(rank + oversample, n)
    trace = G.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    Gd = (G / torch.where(trace > 0, trace, torch.ones_like(trace))).double()  # a scale-free problem
    if width == n:
        return torch.linalg.eigh(Gd).eigenvectors.flip(-1)[..., :rank].to(G.dtype)
    Q = _orthonormalise(Gd @ _sketch(Gd, width, generator))
    for _ in range(iters):
        Q = _orthonormalise(Gd @ Q)
    _, W = torch.linalg.eigh(Q.mT @ Gd @ Q)  # Rayleigh-Ritz: a (width x width) eigenproblem, ascending
    return (Q @ W.flip(-1))[..., :rank].to(G.dtype)


def subspace_svd(M: Tensor, rank: int, oversample: int = 8, iters: int = 2,
                 generator: torch.Generator | None = None) -> Svd:
    """Top-`rank` SVD by subspace iteration on the small Gram matrix, built from batched kernels only.

    For tall-skinny matrices whose small side is above 32 (SDXL's head dimension is 64), where
    `torch.linalg.eigh` and `linalg.svd` loop over the batch on CUDA. X^T X is formed once (the
    only product with the tall side besides the last), then `iters` products with it and Cholesky
    QR find the dominant right singular subspace, and a Rayleigh-Ritz step solves a
    (rank + oversample)-sized eigenproblem, small enough for cuSOLVER's batched Jacobi solver.
    The small-matrix work runs in float64. Exact (the Gram route) when the sketch would span the
    whole small side.
    """
    _check_matrix(M)
    if rank < 1 or oversample < 0 or iters < 0:
        raise ValueError(f"subspace_svd: bad rank={rank}, oversample={oversample} or iters={iters}")
    out = output_dtype(M)
    X = M.to(compute_dtype(out))
    wide = X.shape[-2] < X.shape[-1]
    if wide:
        X = X.mT  # (..., m, n) with m >= n
    k = min(rank, X.shape[-1])
    width = min(k + oversample, X.shape[-1])
    if width == X.shape[-1]:
        s, V, XV = tall_gram_factors(X)
    else:
        # The Gram matrix squares the condition number: formed in float32, its rounding alone tilts the
        # basis of the lower kept directions enough to bend U off orthonormal; float64 keeps them apart.
        scale = X.abs().amax(dim=(-2, -1), keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        Xd = (X / scale).double()
        s, V, XV = factors_in_basis(Xd, subspace_basis(Xd.mT @ Xd, width, 0, iters, generator))  # G: (..., n, n)
        s, V, XV = (s * scale.squeeze(-1)).to(X.dtype), V.to(X.dtype), (XV * scale).to(X.dtype)
    keep = numerical_rank_mask(s, tuple(X.shape[-2:]))
    U = torch.where(keep.unsqueeze(-2), XV / torch.where(keep, s, 1.0).unsqueeze(-2), 0.0)
    U, s, V = U[..., :k], s[..., :k], V[..., :k]
    if wide:
        U, V = V, U
    return _cast(Svd(U, s, V.mT), out)
