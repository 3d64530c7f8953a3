"""Reweighting strategies and the norm-preserving option."""

import pytest
import torch

from svdstory.spectral import (
    exp_reweight,
    parse_spec,
    power_reweight,
    preserve_norm,
    spectral_filter,
    topk_boost,
)

S = torch.tensor([[8.0, 4.0, 2.0, 1.0, 0.0], [3.0, 3.0, 1.0, 0.5, 0.25]], dtype=torch.float64)


def test_exp_reweight_closed_form_and_direction():
    assert torch.allclose(exp_reweight(S, 0.1, 2.0), 2.0 * torch.exp(0.1 * S) * S)
    enhanced, suppressed = exp_reweight(S, 0.2), exp_reweight(S, -0.2, 0.9)
    assert torch.all(enhanced >= S) and torch.all(suppressed <= S)
    assert enhanced[0, -1] == 0 and suppressed[0, -1] == 0
    # Enhancing widens the gap between the top value and the rest (relative to it).
    assert torch.all(enhanced[:, 2] / enhanced[:, 0] < S[:, 2] / S[:, 0])


def test_exp_reweight_stays_finite_for_huge_exponents():
    assert torch.isfinite(exp_reweight(torch.tensor([1e4, 1.0]), 1.0)).all()


def test_power_reweight_is_relative_to_the_largest_value():
    out = power_reweight(S, 0.5)
    assert torch.allclose(out, S[:, :1] * (S / S[:, :1]) ** 0.5)
    assert torch.equal(out[:, 0], S[:, 0])
    assert torch.allclose(power_reweight(S, 1.0), S)
    assert torch.equal(power_reweight(torch.zeros(2, 3), 0.5), torch.zeros(2, 3))


def test_topk_boost():
    assert topk_boost(S, 2, 1.5)[0].tolist() == [12.0, 6.0, 2.0, 1.0, 0.0]


@pytest.mark.parametrize("text", ["exp:0.3+norm", "power:0.5+norm", "topk:2:3.0+norm", "rank:2+norm",
                                  "energy:0.8,exp:0.2+norm", "tau:0.3,topk:1:2.0+norm"])
def test_norm_option_keeps_the_norm_of_the_original_spectrum(text):
    out = parse_spec(text)(S, (10, 5))
    torch.testing.assert_close(out.norm(dim=-1), S.norm(dim=-1))


def test_without_norm_option_the_norm_changes():
    assert not torch.allclose(parse_spec("exp:0.3")(S, (10, 5)).norm(dim=-1), S.norm(dim=-1))


def test_norm_option_on_matrices_keeps_the_frobenius_norm():
    M = torch.randn(4, 256, 32, generator=torch.Generator().manual_seed(0))
    for method in ("exact", "gram"):
        out = spectral_filter(M, parse_spec("rank:4,power:0.7+norm"), method=method)
        torch.testing.assert_close(out.norm(dim=(-2, -1)), M.norm(dim=(-2, -1)), rtol=1e-5, atol=0)
        assert torch.all(torch.linalg.matrix_rank(out) == 4)


def test_preserve_norm_leaves_all_zero_spectra_alone():
    assert torch.equal(preserve_norm(torch.zeros(3), torch.ones(3)), torch.zeros(3))
