"""Zeroing strategies against closed forms, including the Gavish-Donoho threshold."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize

from svdstory.spectral import (
    gavish_donoho,
    gd_lambda,
    gd_omega,
    gd_threshold,
    keep_energy,
    keep_rank,
    parse_spec,
    relative_threshold,
    soft_threshold,
    spectral_filter,
    strategy_names,
    svd,
)


def random_spectrum(batch=8, r=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.sort(torch.rand(batch, r, generator=g, dtype=torch.float64) * 10, descending=True).values


@pytest.mark.parametrize("k", [1, 5, 32, 50])
def test_keep_rank_keeps_exactly_k(k):
    s = random_spectrum()
    out = keep_rank(s, k)
    assert torch.all((out > 0).sum(-1) == min(k, 32))
    assert torch.equal(out[..., :k], s[..., :k])


def test_keep_rank_on_unsorted_values_keeps_the_largest():
    s = torch.tensor([1.0, 5.0, 3.0, 4.0])
    assert keep_rank(s, 2).tolist() == [0.0, 5.0, 0.0, 4.0]


def test_filtered_matrix_has_rank_k():
    M = torch.randn(3, 128, 16, generator=torch.Generator().manual_seed(0))
    out = spectral_filter(M, parse_spec("rank:5"))
    assert torch.all(torch.linalg.matrix_rank(out) == 5)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9, 0.99])
def test_keep_energy_reaches_p_with_the_fewest_values(p):
    s = random_spectrum(batch=16, r=40, seed=1)
    out = keep_energy(s, p)
    kept = out.square().sum(-1) / s.square().sum(-1)
    assert torch.all(kept >= p)
    k = (out > 0).sum(-1)
    assert torch.equal(out, torch.where(torch.arange(40) < k.unsqueeze(-1), s, 0.0))  # a prefix
    one_fewer = (s.square().cumsum(-1).gather(-1, (k - 2).clamp(min=0).unsqueeze(-1)).squeeze(-1)
                 / s.square().sum(-1))
    assert torch.all((k == 1) | (one_fewer < p))


def test_keep_energy_one_keeps_everything_nonzero():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])
    assert torch.equal(keep_energy(s, 1.0), s)
    tiny = torch.tensor([1e3, 1.0, 1e-6])  # 1e-12 of the energy: below float32 resolution of the total
    assert torch.equal(keep_energy(tiny, 1.0), tiny)
    assert torch.equal(keep_energy(tiny, 0.999), torch.tensor([1e3, 0.0, 0.0]))


def test_relative_threshold():
    s = torch.tensor([[10.0, 5.0, 1.0, 0.5], [2.0, 1.0, 0.25, 0.125]])
    assert relative_threshold(s, 0.1).tolist() == [[10.0, 5.0, 1.0, 0.0], [2.0, 1.0, 0.25, 0.0]]
    assert torch.equal(relative_threshold(s, 0.0), s)


def test_soft_threshold_relative_and_absolute():
    s = torch.tensor([10.0, 5.0, 1.0])
    assert soft_threshold(s, 0.2).tolist() == [8.0, 3.0, 0.0]
    assert soft_threshold(s, 2.0, relative=False).tolist() == [8.0, 3.0, 0.0]


def marchenko_pastur_median(beta):
    low, high = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2
    density = lambda t: math.sqrt((high - t) * (t - low)) / (2 * math.pi * beta * t)
    mass = lambda x: integrate.quad(density, low, x)[0]
    return optimize.brentq(lambda x: mass(x) - 0.5, low, high)


def test_gd_coefficients_match_the_paper():
    assert gd_lambda(1.0) == pytest.approx(4 / math.sqrt(3))
    # omega(beta) is a fit of lambda*(beta) / sqrt(median of Marchenko-Pastur), per the paper.
    for beta in (0.1, 0.25, 0.5, 1.0):
        exact = gd_lambda(beta) / math.sqrt(marchenko_pastur_median(beta))
        assert gd_omega(beta) == pytest.approx(exact, rel=0.01)


def test_gd_threshold_value_on_a_known_spectrum():
    shape = (60, 30)
    g = torch.Generator().manual_seed(2)
    spectrum = torch.linspace(1.0, 30.0, 30, dtype=torch.float64).flip(0)
    U = torch.linalg.qr(torch.randn(60, 30, generator=g, dtype=torch.float64)).Q
    V = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64)).Q
    s = svd((U * spectrum) @ V.mT).S
    expected = gd_omega(0.5) * float(np.median(spectrum.numpy()))
    assert gd_threshold(s, shape).item() == pytest.approx(expected, rel=1e-9)
    assert torch.equal(gavish_donoho(s, shape) > 0, s >= expected)
    known = gd_lambda(0.5) * math.sqrt(60) * 0.3
    assert gd_threshold(s, shape, sigma=0.3).item() == pytest.approx(known)


@pytest.mark.parametrize("sigma", [None, 1.0])
def test_gd_recovers_the_rank_of_planted_low_rank_plus_noise(sigma):
    m, n, g = 300, 100, torch.Generator().manual_seed(4)
    U = torch.linalg.qr(torch.randn(2, m, 4, generator=g, dtype=torch.float64)).Q
    V = torch.linalg.qr(torch.randn(2, n, 4, generator=g, dtype=torch.float64)).Q
    signal = (U * torch.tensor([200.0, 150.0, 120.0, 100.0], dtype=torch.float64)) @ V.mT
    Y = signal + torch.randn(2, m, n, generator=g, dtype=torch.float64)  # unit noise per entry
    s = svd(Y).S
    assert torch.all((gavish_donoho(s, (m, n), sigma) > 0).sum(-1) == 4)
    filtered = spectral_filter(Y, parse_spec("gd" if sigma is None else "gd:1.0"))
    assert torch.all(torch.linalg.matrix_rank(filtered) == 4)
    # The estimate is closer to the signal than the noisy observation is.
    error = torch.linalg.norm(filtered - signal, dim=(-2, -1))
    assert torch.all(error < torch.linalg.norm(Y - signal, dim=(-2, -1)))


@pytest.mark.parametrize("name", strategy_names("zero"))
@pytest.mark.parametrize("case", ["zeros", "duplicates", "single"])
def test_zeroing_is_finite_on_degenerate_spectra(name, case):
    spec = parse_spec({"rank": "rank:2", "energy": "energy:0.9", "tau": "tau:0.5", "gd": "gd",
                       "soft": "soft:0.1", "soft_abs": "soft_abs:0.1"}.get(name, name))
    s = {"zeros": torch.zeros(3, 8), "duplicates": torch.ones(3, 8), "single": torch.tensor([[4.0]])}[case]
    out = spec(s, (16, s.shape[-1]))
    assert out.shape == s.shape and torch.isfinite(out).all() and torch.all(out >= 0)
    assert torch.all(out <= s)
