"""Decompositions registered by name ("exact", "gram", "randomized", "subspace", "auto"), one call site."""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from ..errors import SvdStoryError
from .decompose import Svd, gram_svd, randomized_svd, subspace_svd, svd

Decomposer = Callable[[Tensor, int | None], Svd]  # (M, rank) -> Svd, truncated to rank if given

# Tall or wide by at least this factor: the Gram route beats linalg.svd (see benchmarks/).
GRAM_ASPECT = 2.0

_DECOMPOSERS: dict[str, Decomposer] = {}


def register_decomposition(name: str, fn: Decomposer) -> None:
    """Make `fn` selectable as `method=name`; re-registering a name replaces it."""
    if name == "auto" or not name.isidentifier():
        raise ValueError(f"cannot register a decomposition named {name!r}")
    _DECOMPOSERS[name] = fn


def decomposition_names() -> tuple[str, ...]:
    return ("auto", *sorted(_DECOMPOSERS))


def check_method(method: str) -> str:
    """Validate a method name (as typed by the user) without decomposing anything."""
    if method != "auto" and method not in _DECOMPOSERS:
        known = ", ".join(decomposition_names())
        raise SvdStoryError(f"unknown decomposition {method!r} (choose from {known})")
    return method


def choose_method(shape: tuple[int, ...]) -> str:
    """What "auto" means for a matrix shape: Gram for tall-skinny or wide, exact otherwise.

    "randomized" is never chosen automatically: it needs a rank and truncates the spectrum.
    """
    m, n = shape[-2:]
    return "gram" if max(m, n) >= GRAM_ASPECT * min(m, n) else "exact"


# torch's batched CUDA eigensolver (cuSOLVER's batched Jacobi) covers matrices up to 32x32; above
# that it does not batch: on an H100, 15 ms for 20 or 40 matrices of 64x64 (docs/performance.md).
BATCHED_EIGH_MAX = 32
SUBSPACE_OVERSAMPLE = 8


def head_route(head_dim: int, method: str, rank: int | None) -> tuple[str, int | None]:
    """What "auto" means for per-head keys/values (tokens x head_dim), which come in batches of
    heads x chunks: exact (the Gram route) up to 32-wide heads, where the batched eigensolver
    applies; for wider heads (SDXL's 64), the top `rank` directions by `subspace` iteration
    (default 24: a 32-wide sketch, so its eigenproblem is batched too).
    """
    if method == "auto" and head_dim > BATCHED_EIGH_MAX:
        return "subspace", rank or BATCHED_EIGH_MAX - SUBSPACE_OVERSAMPLE
    return method, rank


def decompose(M: Tensor, method: str = "auto", rank: int | None = None) -> Svd:
    """SVD of `M (..., m, n)` by the named method, keeping the top `rank` triplets if given."""
    name = choose_method(tuple(M.shape)) if check_method(method) == "auto" else method
    return _DECOMPOSERS[name](M, rank)


def _truncate(result: Svd, rank: int | None) -> Svd:
    if rank is None:
        return result
    return Svd(result.U[..., :rank], result.S[..., :rank], result.Vh[..., :rank, :])


def _randomized(M: Tensor, rank: int | None) -> Svd:
    if rank is None:
        raise SvdStoryError("decomposition 'randomized' needs a rank")
    return randomized_svd(M, rank)


def _subspace(M: Tensor, rank: int | None) -> Svd:
    if rank is None:
        raise SvdStoryError("decomposition 'subspace' needs a rank")
    return subspace_svd(M, rank)


register_decomposition("exact", lambda M, rank: _truncate(svd(M), rank))
register_decomposition("gram", lambda M, rank: _truncate(gram_svd(M), rank))
register_decomposition("randomized", _randomized)
register_decomposition("subspace", _subspace)
