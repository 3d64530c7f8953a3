"""spectral_filter: no-op filters reproduce the input; every route agrees with the exact SVD."""

import pytest
import torch

from svdstory.spectral import parse_spec, spectral_filter, svd

G = torch.Generator().manual_seed(0)
MATRICES = {
    "tall": torch.randn(2, 2, 256, 32, generator=G),
    "wide": torch.randn(4, 16, 300, generator=G),
    "square": torch.randn(2, 40, 40, generator=G),
    "rank_deficient": torch.randn(2, 256, 3, generator=G) @ torch.randn(2, 3, 24, generator=G),
}


@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("method", ["auto", "exact", "gram"])
@pytest.mark.parametrize("text", ["none", "rank:64", "energy:1.0", "tau:0.0", "exp:0.0", "power:1.0"])
def test_no_op_filters_return_the_input(name, method, text):
    M = MATRICES[name]
    torch.testing.assert_close(spectral_filter(M, parse_spec(text), method=method), M, rtol=1e-4, atol=1e-4)


def explicit(M, fn):
    U, S, Vh = svd(M.double())
    return ((U * fn(S, tuple(M.shape[-2:])).unsqueeze(-2)) @ Vh).float()


@pytest.mark.parametrize("name", ["tall", "wide", "square"])
@pytest.mark.parametrize("method", ["exact", "gram"])
@pytest.mark.parametrize("text", ["rank:5", "energy:0.6,exp:0.05", "power:0.5", "soft:0.2+norm"])
def test_routes_agree_with_explicit_reconstruction(name, method, text):
    M, spec = MATRICES[name], parse_spec(text)
    out = spectral_filter(M, spec, method=method)
    torch.testing.assert_close(out, explicit(M, spec), rtol=1e-3, atol=1e-3)


def test_randomized_route_truncates_to_rank():
    U, _, Vh = torch.linalg.svd(MATRICES["tall"], full_matrices=False)
    M = (U * 0.5 ** torch.arange(32.0)) @ Vh  # fast decay: a rank-6 sketch is accurate
    out = spectral_filter(M, parse_spec("none"), method="randomized", rank=6)
    assert torch.all(torch.linalg.matrix_rank(out) == 6)
    torch.testing.assert_close(out, explicit(M, parse_spec("rank:6")), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["exact", "gram", "randomized"])
def test_low_precision_in_low_precision_out(dtype, method):
    M = MATRICES["tall"].to(dtype)
    rank = 8 if method == "randomized" else None
    out = spectral_filter(M, parse_spec("energy:0.9,exp:0.01"), method=method, rank=rank)
    assert out.dtype == dtype and out.shape == M.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("method", ["exact", "gram"])
@pytest.mark.parametrize("text", ["gd", "power:0.3", "energy:0.9+norm", "exp:-0.1:0.5"])
def test_degenerate_matrices_stay_finite(method, text):
    for M in (torch.zeros(2, 128, 16), torch.ones(128, 16), torch.ones(16, 128).half()):
        out = spectral_filter(M, parse_spec(text), method=method)
        assert torch.isfinite(out).all() and out.dtype == M.dtype


def test_zero_matrix_stays_zero():
    assert torch.equal(spectral_filter(torch.zeros(64, 8), parse_spec("exp:0.1+norm")), torch.zeros(64, 8))


def test_plain_callables_are_accepted_and_shape_changes_rejected():
    M = MATRICES["tall"]
    torch.testing.assert_close(spectral_filter(M, lambda s, shape: 2 * s), 2 * M, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        spectral_filter(M, lambda s, shape: s[..., :3])


def test_head_route_is_exact_up_to_32_wide_heads_and_subspace_above():
    from svdstory.spectral import head_route

    assert head_route(32, "auto", None) == ("auto", None)
    assert head_route(64, "auto", None) == ("subspace", 24)
    assert head_route(64, "auto", 16) == ("subspace", 16)
    assert head_route(64, "gram", None) == ("gram", None)  # an explicit choice stands
    g = torch.Generator().manual_seed(0)
    M = torch.randn(3, 512, 64, generator=g) * 0.7 ** torch.arange(64.0)  # decaying spectrum
    keep8 = parse_spec("rank:8")
    fast, exact = spectral_filter(M, keep8, *head_route(64, "auto", None)), spectral_filter(M, keep8, "exact")
    torch.testing.assert_close(fast, exact, rtol=1e-3, atol=1e-4)
    assert torch.linalg.matrix_rank(fast[0]).item() == 8


def test_filtering_in_the_own_basis_equals_the_filter_and_a_stale_basis_stays_in_its_span():
    from svdstory.spectral import filter_in_basis, right_basis

    g = torch.Generator().manual_seed(5)
    M = torch.randn(2, 3, 300, 24, generator=g) * 0.8 ** torch.arange(24.0)
    fn = parse_spec("energy:0.8")
    torch.testing.assert_close(filter_in_basis(M, fn, right_basis(M)), spectral_filter(M, fn), rtol=1e-4, atol=1e-5)
    moved = M + 0.05 * torch.randn(M.shape, generator=g)  # the next step's matrices
    V = right_basis(M, "subspace", 6)
    out = filter_in_basis(moved, parse_spec("none"), V)
    torch.testing.assert_close(out, moved @ V @ V.mT, rtol=1e-4, atol=1e-5)  # identity fn: the projection
    assert torch.linalg.matrix_rank(out[0, 0]).item() == 6


@pytest.mark.parametrize("text", ["energy:0.9", "gd", "tau:0.2"])
def test_a_rank_capped_route_decides_as_the_full_spectrum_when_the_cap_holds(text):
    """The subspace route knows 24 of 64 values; fn still sees 64 (the tail from the exact energy)."""
    g = torch.Generator().manual_seed(2)
    Q1 = torch.linalg.qr(torch.randn(2, 1024, 64, generator=g, dtype=torch.float64)).Q
    Q2 = torch.linalg.qr(torch.randn(2, 64, 64, generator=g, dtype=torch.float64)).Q
    spectrum = torch.cat([10 * 0.7 ** torch.arange(8.0), 0.05 * torch.ones(56)]).double()  # 8 strong, a noise floor
    M = ((Q1 * spectrum) @ Q2.mT).float()
    fn = parse_spec(text)
    capped, exact = spectral_filter(M, fn, "subspace", 24), spectral_filter(M, fn, "exact")
    assert torch.linalg.matrix_rank(exact[0]).item() <= 24  # the exact filter keeps fewer than the cap
    torch.testing.assert_close(capped, exact, rtol=1e-3, atol=1e-3)
    assert capped.abs().amax() > 0.5 * exact.abs().amax()  # not everything zeroed


def test_energy_rules_count_the_energy_beyond_the_cap():
    """A slowly decaying spectrum: energy:0.5 needs 12 of 64 directions, counted against all 64."""
    g = torch.Generator().manual_seed(2)
    Q1 = torch.linalg.qr(torch.randn(1024, 64, generator=g, dtype=torch.float64)).Q
    Q2 = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64)).Q
    M = ((Q1 * 0.97 ** torch.arange(64.0).double()) @ Q2.mT).float()
    capped, exact = (spectral_filter(M, parse_spec("energy:0.5"), *route) for route in (("subspace", 24), ("exact",)))
    assert torch.linalg.matrix_rank(capped).item() == torch.linalg.matrix_rank(exact).item() == 12
    torch.testing.assert_close(capped, exact, rtol=0, atol=5e-3)
