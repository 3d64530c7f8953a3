"""`svd` end to end on the tiny models: the identity transform is `shared`, a truncation changes the images."""
import math

import pytest
import torch

import svdstory.methods.sharing.svd_targets as svd_targets
from svdstory import Story, generate, load_model

TARGETS = ["kv", "hidden", "attn"]
# The attn target decomposes a (T x S) probability block per image and head, at a cost that grows as T^3:
# 16 px (8x8 and 4x4 attention grids) keeps it fast; the other targets run at the fixtures' 32 px.
SIZE = {"attn": 16}


def size(target):
    return SIZE.get(target, 32)


@pytest.mark.parametrize("target", TARGETS)
def test_identity_transform_is_shared_exactly(runs, target):
    _, shared = runs("sd", "shared", size=size(target))
    _, ours = runs("sd", "svd", {"target": target, "zero": "none", "reweight": "none"}, size=size(target))
    assert torch.equal(ours, shared)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("zero", ["rank:4096", "energy:1.0"])
def test_full_rank_truncation_is_a_no_op(runs, target, zero):
    _, shared = runs("sd", "shared", size=size(target))
    _, ours = runs("sd", "svd", {"target": target, "zero": zero}, size=size(target))
    # Not bitwise: the filter reconstructs U diag(s) V^T and the attn target's explicit softmax is not SDPA.
    torch.testing.assert_close(ours, shared, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_real_truncation_changes_the_images(runs, kind, target):
    shared, shared_latents = runs(kind, "shared", size=size(target))
    result, ours = runs(kind, "svd", {"target": target, "zero": "rank:1"}, size=size(target))
    assert torch.isfinite(ours).all() and ours.shape == shared_latents.shape
    assert (ours - shared_latents).abs().amax() > 1e-2
    assert (runs.pixels(result.images) != runs.pixels(shared.images)).any()
    assert runs.pixels(result.images).std() > 0  # a NaN decodes to a flat image
    assert result.info["config"]["target"] == target and result.info["config"]["zero"] == "rank:1"


@pytest.mark.parametrize("target", TARGETS)
def test_reweighting_alone_changes_the_images(runs, target):
    _, shared = runs("sd", "shared", size=size(target))
    _, ours = runs("sd", "svd", {"target": target, "zero": "none", "reweight": "topk:1:3.0"}, size=size(target))
    assert torch.isfinite(ours).all() and (ours - shared).abs().amax() > 1e-2


@pytest.fixture(scope="module")
def bf16_sd():
    return load_model("tiny", device="cpu", dtype="bfloat16")


@pytest.mark.parametrize("target", TARGETS)
def test_bf16_run_decomposes_in_float32(bf16_sd, monkeypatch, runs, target):
    seen, linalg, original_filter = [], [], svd_targets.spectral_filter

    def filter_spy(M, *args):
        out = original_filter(M, *args)
        seen.append((M.dtype, out.dtype))
        return out

    def linalg_spy(original):
        return lambda M, *args, **kwargs: linalg.append(M.dtype) or original(M, *args, **kwargs)

    monkeypatch.setattr(svd_targets, "spectral_filter", filter_spy)
    for name in ("svd", "eigh"):
        monkeypatch.setattr(torch.linalg, name, linalg_spy(getattr(torch.linalg, name)))
    rec = runs.Recorder()
    options = {"target": target, "zero": "rank:1", "refresh": 1}  # refresh=1: spectral_filter at every step
    generate(bf16_sd, Story("a cat", ("on a beach", "in snow")), "svd", options, runs.sampling(runs.method_steps, size=16),
             callback=rec)
    # the attn target upcasts its probabilities itself; kv and hidden hand bf16 matrices to the filter
    assert {m for m, _ in seen} == ({torch.float32} if target == "attn" else {torch.bfloat16})
    assert all(m == o for m, o in seen) and set(linalg) == {torch.float32}
    assert all(x.dtype == torch.bfloat16 and torch.isfinite(x).all() for x in rec.latents)


def test_refresh_decomposes_each_layer_once_then_all_layers_in_one_batch(runs, monkeypatch):
    import svdstory.methods.sharing.svd_targets as share

    calls = []
    original = share.basis_from_gram
    monkeypatch.setattr(share, "basis_from_gram", lambda G, *a, **k: calls.append(G.shape) or original(G, *a, **k))
    steps = runs.sampling(runs.method_steps).steps
    _, never = runs("sd", "svd", {"zero": "rank:2", "refresh": steps + 1})
    first = list(calls)  # without a renewal, each layer decomposes once, at its first call
    layers, widths = len(first), {shape[-1] for shape in first}
    calls.clear()
    _, kept = runs("sd", "svd", {"zero": "rank:2", "refresh": 2})
    renewals = (steps - 1) // 2  # after steps 1, 3, ...; never after the last step
    assert layers > 1 and renewals >= 1 and len(calls) == layers + renewals * len(widths)
    for shape in calls[layers:]:  # one call per head width holds the matrices of every layer of that width
        assert shape[0] == sum(math.prod(s[:-2]) for s in first if s[-1] == shape[-1])
    _, every = runs("sd", "svd", {"zero": "rank:2", "refresh": 1})
    assert not torch.equal(every, kept) and not torch.equal(kept, never)
    assert (every - kept).abs().mean() < (every.abs().mean() * 0.5)


def test_sharing_only_in_the_conditional_half(runs):
    _, both = runs("sd", "svd", {})
    _, cond = runs("sd", "svd", {"share_uncond": False})
    assert not torch.equal(both, cond)
    import dataclasses

    import numpy as np

    unguided = dataclasses.replace(runs.sampling(runs.method_steps), guidance=1.0)  # no unconditional half to leave out
    model = runs.model("sd")
    both = generate(model, runs.story, "svd", {}, unguided).images
    cond = generate(model, runs.story, "svd", {"share_uncond": False}, unguided).images
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(both, cond))


def test_refresh_filter_keeps_the_rank_cap_and_follows_a_changed_rule():
    from svdstory.methods.sharing.svd_targets import _Filter

    M = torch.randn(2, 40, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    keep_all = lambda s, shape: s
    capped = _Filter("auto", 3, refresh=5)(M, keep_all, "layer", False)
    assert torch.linalg.matrix_rank(capped).tolist() == [3, 3]  # rank=3 caps the exact route too

    filt = _Filter("auto", None, refresh=5)
    top_one = lambda s, shape: torch.where(torch.arange(s.shape[-1]) < 1, s, 0.0)
    assert torch.linalg.matrix_rank(filt(M, top_one, "layer", False)).tolist() == [1, 1]
    # a scheduled rule change (here: keep everything) applies at the next call, not at the next refresh
    torch.testing.assert_close(filt(M, keep_all, "layer", False), M)
