"""`storydiffusion` end to end: its sample rate interpolates between vanilla (0) and `shared` (1)."""
import pytest
import torch


def test_sample_rate_one_is_shared_with_every_image_as_anchor(runs):
    _, ours = runs("sd", "storydiffusion", {"sample_rate": 1.0})
    _, shared = runs("sd", "shared", {"n_anchors": 0})
    # the same tokens seen through a dense mask (ours) and through mask-free groups (shared)
    torch.testing.assert_close(ours, shared, rtol=1e-4, atol=1e-4)
    assert not torch.equal(ours, runs("sd", "vanilla", {"scheduler": "ddim"})[1])


def test_sample_rate_zero_is_vanilla_with_ddim(runs):
    _, ours = runs("sd", "storydiffusion", {"sample_rate": 0.0})
    _, vanilla = runs("sd", "vanilla", {"scheduler": "ddim"})
    assert torch.equal(ours, vanilla)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_half_the_tokens_lies_between_vanilla_and_shared(runs, kind):
    result, half = runs(kind, "storydiffusion")
    _, vanilla = runs(kind, "vanilla", {"scheduler": "ddim"})
    _, shared = runs(kind, "shared", {"n_anchors": 0})
    assert torch.isfinite(half).all() and runs.pixels(result.images).std() > 0
    assert (half - vanilla).abs().amax() > 1e-2 and (half - shared).abs().amax() > 1e-2
    assert result.masks is None
