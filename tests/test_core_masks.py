"""Subject masks from planted cross-attention maps: Otsu, binarisation, window averaging, token sums."""
import math

import numpy as np
import pytest
import torch

from svdstory.masks import binarize, otsu_threshold, otsu_thresholds, resize_maps
from svdstory.methods.consistory.maps import MapAccumulator, token_maps
from svdstory.methods.consistory.pattern import dropout_keep

GRID = (6, 10)  # deliberately not square


def blob(top, left, height, width, grid=GRID) -> torch.Tensor:
    out = torch.zeros(grid, dtype=torch.bool)
    out[top:top + height, left:left + width] = True
    return out


def noisy(mask: torch.Tensor, seed: int, low=0.1, high=0.9, noise=0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.where(mask, high, low) + noise * torch.rand(mask.shape, generator=g)


def test_otsu_separates_two_clusters():
    g = torch.Generator().manual_seed(0)
    values = torch.cat([0.2 + 0.05 * torch.rand(300, generator=g), 0.7 + 0.05 * torch.rand(40, generator=g)])
    t = otsu_threshold(values)
    assert 0.25 <= t < 0.7
    assert int((values > t).sum()) == 40


def test_otsu_degenerate_inputs():
    assert otsu_threshold(torch.full((5,), 0.3)) == pytest.approx(0.3)
    assert math.isinf(otsu_threshold(torch.tensor([float("inf"), float("nan")])))
    assert otsu_threshold(torch.tensor([0.0, 1.0, float("inf")])) < 1.0  # non-finite values are ignored


def test_binarize_recovers_planted_blobs_exactly():
    truth = torch.stack([torch.stack([blob(1, 2, 3, 4), blob(0, 6, 6, 3)]),
                         torch.stack([blob(4, 0, 2, 10), blob(2, 3, 2, 2)])])  # (n=2, S=2, 6, 10)
    maps = torch.stack([torch.stack([noisy(m, seed=2 * i + s) for s, m in enumerate(per)])
                        for i, per in enumerate(truth)])
    maps[1, 0] = maps[1, 0] * 40.0 + 7.0  # each map is normalised on its own
    out = binarize(maps)
    assert out.dtype == torch.bool and out.shape == maps.shape
    assert (out | ~truth).all()  # every planted pixel is found
    # The release's rule puts the threshold at the centre of the last low bin (256 bins over each map's
    # range), so the only false positives are low pixels in the upper half of that bin.
    flat = maps.flatten(-2)
    lo, hi = flat.amin(-1, keepdim=True), flat.amax(-1, keepdim=True)
    norm = ((flat - lo) / (hi - lo)).reshape(maps.shape)
    low_max = torch.where(truth, -1.0, norm).flatten(-2).amax(-1)[..., None, None]
    near_top = norm > low_max - 0.5 / 256
    assert (out & ~truth & ~near_top).sum() == 0


def test_map_accumulator_averages_layers_then_the_last_window_steps():
    acc = MapAccumulator(window=2)
    assert acc.average() is None
    ones = torch.ones(1, 1, *GRID)
    steps = [(1.0, 3.0), (10.0, 20.0), (100.0, 300.0)]  # two layers' maps per step
    for a, b in steps:
        acc.add(a * ones)
        acc.add(b * ones)
        acc.end_step()
    acc.end_step()  # a step without maps must not push an empty entry
    # layer means per step: 2, 15, 200; the window keeps the last two
    torch.testing.assert_close(acc.average(), (15.0 + 200.0) / 2 * ones)


def test_token_maps_sums_sub_tokens_per_subject_and_image():
    n, heads, L = 2, 3, 9
    h, w = GRID
    probs = torch.zeros(n, heads, h * w, L)
    planted = {(0, 0): blob(1, 1, 2, 3), (0, 1): blob(3, 5, 3, 4), (1, 0): blob(0, 0, 6, 2), (1, 1): blob(2, 7, 2, 2)}
    positions = [[[2, 3], [4]], [[6], [5, 7]]]  # [subject][image]: subject 0 is two sub-tokens in image 0
    for (i, s), mask in planted.items():
        pos = positions[s][i]
        for p in pos:  # split the blob's mass over the sub-tokens and the heads
            probs[i, :, :, p] += mask.flatten().float() / len(pos) * torch.tensor([0.5, 1.0, 1.5])[:, None]
    probs[:, :, :, 1] = 0.3  # an unrelated token must not leak in
    maps = token_maps(probs, positions, GRID)
    assert maps.shape == (n, 2, h, w)
    for (i, s), mask in planted.items():
        torch.testing.assert_close(maps[i, s], mask.float())
    assert torch.equal(binarize(maps), torch.stack([torch.stack([planted[(i, s)] for s in range(2)])
                                                    for i in range(n)]))


def test_resize_maps_keeps_a_planted_blob():
    mask = blob(2, 4, 2, 4, grid=(6, 10)).float()[None, None]
    up = resize_maps(mask, (12, 20))
    assert up.shape == (1, 1, 12, 20)
    assert torch.equal(binarize(up)[0, 0, 4:8, 8:16], torch.ones(4, 8, dtype=torch.bool))
    assert not binarize(up)[0, 0, :2].any()


def test_dropout_keep_is_seeded_and_has_the_requested_rate():
    a, b = dropout_keep(4000, 0.5, 123, "cpu"), dropout_keep(4000, 0.5, 123, "cpu")
    assert torch.equal(a, b)
    assert not torch.equal(a, dropout_keep(4000, 0.5, 124, "cpu"))
    assert 0.45 < a.float().mean() < 0.55
    assert dropout_keep(10, 0.0, 1, "cpu").all()


def test_batched_otsu_matches_an_exhaustive_search_per_row():
    """Each row's threshold is the centre of the last low bin of the split that maximises the between-class
    variance (scikit-image's `threshold_otsu`, which the ConsiStory release uses)."""
    g = torch.Generator().manual_seed(3)
    rows = torch.cat([torch.rand(4, 300, generator=g) ** 3, torch.randn(3, 300, generator=g)])
    bins = 64
    for row, threshold in zip(rows, otsu_thresholds(rows, bins)):
        lo, hi = float(row.min()), float(row.max())
        centers = torch.tensor([lo + (k + 0.5) * (hi - lo) / bins for k in range(bins)], dtype=torch.float64)
        hist = torch.histc(row, bins=bins, min=lo, max=hi).double()
        def between(k):  # classes: bins 0..k and k+1..end, each bin at its centre
            w0, w1 = hist[:k + 1].sum(), hist[k + 1:].sum()
            m0 = (hist[:k + 1] * centers[:k + 1]).sum() / w0
            m1 = (hist[k + 1:] * centers[k + 1:]).sum() / w1
            return float(w0 * w1 * (m0 - m1) ** 2) if w0 > 0 and w1 > 0 else -1.0
        best = max(range(bins - 1), key=between)
        assert float(threshold) == pytest.approx(float(centers[best]), rel=1e-5)


def test_map_accumulator_takes_sums_of_several_layers():
    """A sum of k layers' maps added with layers=k counts as k layers: the step's mean is over all of them."""
    acc = MapAccumulator(window=1)
    maps = [torch.full((1, 1, 2, 2), float(v)) for v in (1.0, 2.0, 3.0, 10.0)]
    acc.add(maps[0] + maps[1] + maps[2], layers=3)
    acc.add(maps[3])
    acc.end_step()
    torch.testing.assert_close(acc.average(), torch.full((1, 1, 2, 2), 4.0))


def release_otsu(values: np.ndarray, sums=np.float32) -> float:
    """The release's threshold, written out (scikit-image 0.22's `threshold_otsu` on a float32 map under
    NumPy 1.26): 256 bins between float32 edges that were computed in float64, counts and centres in
    float32, class weights and means from running sums in `sums` (float32 in the release)."""
    values = np.asarray(values, dtype=np.float32).ravel()
    edges = np.linspace(np.float64(values.min()), np.float64(values.max()), 257).astype(np.float32)
    counts = np.histogram(values, bins=edges)[0].astype(sums)
    centers = ((edges[:-1] + edges[1:]) / 2).astype(sums)
    weight_low, weight_high = np.cumsum(counts), np.cumsum(counts[::-1])[::-1]
    mean_low = np.cumsum(counts * centers) / weight_low
    mean_high = (np.cumsum((counts * centers)[::-1]) / weight_high[::-1])[::-1]
    between = weight_low[:-1] * weight_high[1:] * (mean_low[:-1] - mean_high[1:]) ** 2
    return float(centers[np.argmax(between)])


def test_otsu_breaks_a_near_tie_as_the_release_does():
    """A mirrored histogram (the minimum, three values in bin 111, three in bin 145, the maximum): the splits
    that leave the minimum alone low or the maximum alone high have the same between-class variance in exact
    arithmetic. The release's float32 running sums make the second the larger; float64 sums the first."""
    bins = np.array([0] + [111] * 3 + [145] * 3 + [256])
    values = (np.float32(0.2) + np.float32(0.1) * (bins / 256.0)).astype(np.float32)
    release, wide = release_otsu(values), release_otsu(values, np.float64)
    assert release != wide  # the sums' precision decides this case
    assert otsu_threshold(torch.from_numpy(values)) == release
    high = binarize(torch.from_numpy(values).reshape(1, 1, 2, 4)).flatten()
    assert high.tolist() == [False] * 7 + [True]  # the maximum alone


def test_otsu_equals_the_release_on_float32_maps():
    """Bit for bit on maps of several shapes: skewed, bimodal, with repeated values, narrow ranges far from 0."""
    g = torch.Generator().manual_seed(5)
    rows = torch.cat([torch.rand(20, 1024, generator=g) ** 4,
                      torch.cat([0.2 * torch.rand(20, 700, generator=g), 0.6 + torch.rand(20, 324, generator=g)], 1),
                      (torch.rand(20, 1024, generator=g) * 37).floor() / 37,
                      3.0 + 1e-4 * torch.randn(20, 1024, generator=g)])
    for row, threshold in zip(rows, otsu_thresholds(rows)):
        assert float(threshold) == release_otsu(row.numpy())


def test_a_subject_without_tokens_in_an_image_gives_it_no_mask():
    """A subject word that the release's rule does not find in a prompt (its index -1) is skipped there: its
    map is zero and its mask empty, so the image's subject mask is that of the other subjects."""
    probs = torch.rand(2, 2, GRID[0] * GRID[1], 6)
    maps = token_maps(probs, [[[2], []], [[4], [4]]], GRID)
    assert (maps[1, 0] == 0).all() and not binarize(maps)[1, 0].any()
    assert binarize(maps)[0, 0].any() and binarize(maps)[1, 1].any()
