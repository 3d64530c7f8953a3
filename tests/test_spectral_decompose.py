"""Decompositions against the exact SVD, and their behaviour on degenerate inputs."""

import pytest
import torch

from svdstory.errors import SvdStoryError
from svdstory.spectral import (
    choose_method,
    decompose,
    decomposition_names,
    gram_svd,
    randomized_svd,
    subspace_svd,
    register_decomposition,
    svd,
)


def planted(shape, spectrum, seed=0, dtype=torch.float64):
    """A batch of matrices (*batch, m, n) with the given singular values (descending)."""
    g = torch.Generator().manual_seed(seed)
    *batch, m, n = shape
    r = len(spectrum)
    U = torch.linalg.qr(torch.randn(*batch, m, r, generator=g, dtype=torch.float64)).Q
    V = torch.linalg.qr(torch.randn(*batch, n, r, generator=g, dtype=torch.float64)).Q
    s = torch.tensor(spectrum, dtype=torch.float64)
    return ((U * s) @ V.mT).to(dtype)


def reconstruct(result):
    return (result.U * result.S.unsqueeze(-2)) @ result.Vh


SPECTRUM = [10.0 - 0.5 * i for i in range(16)]  # distinct, condition number 2


@pytest.mark.parametrize("shape", [(2, 3, 200, 16), (16, 200), (40, 16)])
def test_gram_svd_agrees_with_exact(shape):
    M = planted(shape, SPECTRUM, dtype=torch.float32)
    exact, gram = svd(M), gram_svd(M)
    torch.testing.assert_close(gram.S, exact.S, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reconstruct(gram), M, rtol=1e-4, atol=1e-4)
    # Singular vectors match up to sign, column by column.
    cos_u = (gram.U * exact.U).sum(dim=-2).abs()
    cos_v = (gram.Vh * exact.Vh).sum(dim=-1).abs()
    torch.testing.assert_close(cos_u, torch.ones_like(cos_u), rtol=0, atol=1e-4)
    torch.testing.assert_close(cos_v, torch.ones_like(cos_v), rtol=0, atol=1e-4)


@pytest.mark.parametrize("routine", [randomized_svd, subspace_svd])
@pytest.mark.parametrize("shape", [(3, 300, 40), (40, 300)])
def test_sketched_svds_agree_with_exact_on_top_values(shape, routine):
    spectrum = [2.0 ** -i for i in range(40)]  # fast decay: the top 5 are well separated
    M = planted(shape, spectrum, dtype=torch.float32)
    approx = routine(M, rank=5, generator=torch.Generator().manual_seed(1))
    exact = svd(M)
    assert approx.S.shape[-1] == 5 and approx.U.shape[-1] == 5 and approx.Vh.shape[-2] == 5
    torch.testing.assert_close(approx.S, exact.S[..., :5], rtol=1e-4, atol=1e-6)
    cos_v = (approx.Vh * exact.Vh[..., :5, :]).sum(dim=-1).abs()  # singular vectors up to sign
    torch.testing.assert_close(cos_v, torch.ones_like(cos_v), rtol=0, atol=1e-3)


def test_subspace_svd_of_sdxl_head_shapes_matches_the_top_of_the_spectrum():
    """64-wide keys (SDXL's head dimension) with a decaying spectrum: top 24 of 64 through a
    32-wide Rayleigh-Ritz problem."""
    spectrum = [0.8 ** i for i in range(64)]
    M = planted((2, 1024, 64), spectrum, dtype=torch.float32)
    approx = subspace_svd(M, rank=24)
    torch.testing.assert_close(approx.S, torch.tensor(spectrum[:24]).expand(2, 24), rtol=1e-3, atol=1e-5)
    U, V = approx.U, approx.Vh.mT
    torch.testing.assert_close(U.mT @ U, torch.eye(24).expand(2, 24, 24), rtol=0, atol=1e-4)
    torch.testing.assert_close(V.mT @ V, torch.eye(24).expand(2, 24, 24), rtol=0, atol=1e-4)


def test_randomized_svd_leaves_global_rng_alone_and_is_deterministic():
    M = planted((100, 30), [float(30 - i) for i in range(30)], dtype=torch.float32)
    before = torch.get_rng_state()
    first, second = randomized_svd(M, rank=4), randomized_svd(M, rank=4)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(first.S, second.S)


def test_randomized_svd_with_full_sketch_is_exact():
    M = planted((50, 12), [float(12 - i) for i in range(12)], dtype=torch.float32)
    torch.testing.assert_close(randomized_svd(M, rank=10).S, svd(M).S[:10])


_G = torch.Generator().manual_seed(3)
# n = 24 > rank + oversample, so the randomized route really sketches (no exact fallback).
DEGENERATE = {
    "zeros": torch.zeros(2, 64, 24),
    "rank1": torch.ones(64, 1) @ torch.arange(1.0, 25.0).unsqueeze(0),
    "duplicates": torch.linalg.qr(torch.randn(64, 24, generator=_G)).Q * 3.0,
    "half_zero_columns": torch.cat([torch.randn(64, 12, generator=_G), torch.zeros(64, 12)], dim=-1),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
@pytest.mark.parametrize("method", ["exact", "gram", "randomized", "subspace"])
@pytest.mark.parametrize("transpose", [False, True])
def test_degenerate_inputs_stay_finite_and_reconstruct(name, method, transpose):
    M = DEGENERATE[name].mT if transpose else DEGENERATE[name]
    sketched = method in ("randomized", "subspace")
    result = decompose(M, method, rank=8 if sketched else None)
    for t in result:
        assert torch.isfinite(t).all()
    if not sketched or name in ("zeros", "rank1"):  # else rank 8 cannot hold M
        torch.testing.assert_close(reconstruct(result), M, rtol=1e-4, atol=1e-4)


def test_gram_svd_gives_zero_left_vectors_for_null_directions():
    result = gram_svd(DEGENERATE["rank1"])
    assert result.S[0] > 0 and torch.all(result.S[1:] < 1e-5 * result.S[0])
    assert torch.all(result.U[:, 1:] == 0)
    assert torch.all(gram_svd(torch.zeros(32, 4)).U == 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("method", ["exact", "gram", "randomized", "subspace"])
def test_low_precision_inputs_keep_their_dtype(dtype, method):
    M = planted((2, 128, 16), SPECTRUM, dtype=dtype)
    result = decompose(M, method, rank=4 if method in ("randomized", "subspace") else None)
    assert all(t.dtype == dtype for t in result)
    assert all(torch.isfinite(t.float()).all() for t in result)
    expected = torch.tensor(SPECTRUM[:4], dtype=torch.float64).expand(2, 4)
    torch.testing.assert_close(result.S[..., :4].double(), expected, rtol=2e-2, atol=0)


def test_selector_names_and_auto_rule():
    assert {"auto", "exact", "gram", "randomized"} <= set(decomposition_names())
    assert choose_method((20, 4096, 64)) == "gram"
    assert choose_method((64, 4096)) == "gram"
    assert choose_method((64, 64)) == "exact"
    with pytest.raises(SvdStoryError, match="'qr'"):
        decompose(torch.eye(3), "qr")
    with pytest.raises(SvdStoryError, match="randomized"):
        decompose(torch.eye(3), "randomized")


def test_rank_truncates_and_custom_decomposition_registers():
    M = planted((30, 10), [float(10 - i) for i in range(10)], dtype=torch.float32)
    assert decompose(M, "exact", rank=3).S.shape == (3,)
    calls = []
    register_decomposition("test_spy", lambda X, rank: calls.append(rank) or svd(X))
    decompose(M, "test_spy", rank=2)
    assert calls == [2]
