"""Dense correspondences on planted features: a known permutation of patches must be recovered."""
import torch

from svdstory.methods.consistory.correspondence import correspond, gaussian_smooth, nearest_neighbours

C, H, W = 16, 4, 5
T = H * W


def features(m, seed=0):
    return torch.randn(m, C, H, W, generator=torch.Generator().manual_seed(seed))


def permuted(source: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """A target whose patch p is the source's patch perm[p]."""
    return source.flatten(1)[:, perm].view(C, H, W)


def everything(m):
    return torch.ones(m, T, dtype=torch.bool)


def test_recovers_a_permutation_from_the_allowed_source():
    sources = features(2)
    perm = torch.randperm(T, generator=torch.Generator().manual_seed(1))
    targets = torch.stack([permuted(sources[1], perm), permuted(sources[0], perm.flip(0))])
    allowed = torch.tensor([[True, True], [True, True]])
    source, position, distance = nearest_neighbours(targets, sources, everything(2), allowed)
    assert torch.equal(source[0], torch.ones(T, dtype=torch.long)) and torch.equal(position[0], perm)
    assert torch.equal(source[1], torch.zeros(T, dtype=torch.long)) and torch.equal(position[1], perm.flip(0))
    assert distance.abs().max() < 1e-5


def test_patches_from_two_sources_are_told_apart():
    sources = features(2, seed=2)
    perm = torch.randperm(T, generator=torch.Generator().manual_seed(3))
    from_source = (torch.arange(T) % 3 == 0).long()  # every third patch comes from source 1
    flat = torch.where(from_source.bool(), sources[1].flatten(1)[:, perm], sources[0].flatten(1)[:, perm])
    source, position, _ = nearest_neighbours(flat.view(1, C, H, W), sources, everything(2), torch.ones(1, 2).bool())
    assert torch.equal(source[0], from_source) and torch.equal(position[0], perm)


def test_disallowed_sources_are_never_chosen():
    sources = features(2, seed=4)
    targets = permuted(sources[1], torch.arange(T))[None]  # a perfect copy of source 1 ...
    allowed = torch.tensor([[True, False]])  # ... which it may not use
    source, _, distance = nearest_neighbours(targets, sources, everything(2), allowed)
    assert (source == 0).all() and (distance > 0.1).all()
    none = nearest_neighbours(targets, sources, everything(2), torch.zeros(1, 2).bool())[2]
    assert torch.isinf(none).all()


def test_source_masks_restrict_the_matches():
    sources = features(1, seed=5)
    perm = torch.randperm(T, generator=torch.Generator().manual_seed(6))
    targets = permuted(sources[0], perm)[None]
    mask = torch.ones(1, T, dtype=torch.bool)
    mask[0, :7] = False  # source patches 0..6 are outside the subject
    _, position, distance = nearest_neighbours(targets, sources, mask, torch.ones(1, 1).bool())
    assert mask[0, position[0]].all()
    keep = mask[0, perm]  # target patches whose true partner is still visible
    assert torch.equal(position[0, keep], perm[keep])
    assert (distance[0, ~keep] > 1e-3).all()
    empty = nearest_neighbours(targets, sources, torch.zeros(1, T).bool(), torch.ones(1, 1).bool())[2]
    assert torch.isinf(empty).all()


def noisy_copy(seed=7):
    """A target copying source 0 with the last 8 patches replaced by unrelated features."""
    sources = features(1, seed=seed)
    flat = sources[0].flatten(1).clone()
    flat[:, -8:] = torch.randn(C, 8, generator=torch.Generator().manual_seed(seed + 1))
    clean = torch.arange(T) < T - 8
    return flat.view(1, C, H, W), sources, clean


def test_distance_threshold_gates_the_matches():
    targets, sources, clean = noisy_copy()
    target_masks = torch.ones(1, T, dtype=torch.bool)
    target_masks[0, :3] = False  # outside the target's subject: never injected
    match = correspond(targets, sources, target_masks, everything(1), torch.ones(1, 1).bool(), threshold=0.05)
    assert torch.equal(match.use[0], clean & target_masks[0])
    assert torch.equal(match.position[0, clean], torch.arange(T)[clean])
    loose = correspond(targets, sources, target_masks, everything(1), torch.ones(1, 1).bool(), threshold=2.5)
    assert torch.equal(loose.use[0], target_masks[0])


def test_otsu_threshold_separates_good_from_bad_matches():
    targets, sources, clean = noisy_copy(seed=9)
    match = correspond(targets, sources, everything(1), everything(1), torch.ones(1, 1).bool(), threshold=None)
    assert torch.equal(match.use[0], clean)


def test_no_allowed_source_means_no_injection():
    targets, sources, _ = noisy_copy()
    match = correspond(targets, sources, everything(1), everything(1), torch.zeros(1, 1).bool())
    assert not match.use.any()


def test_gaussian_smoothing_keeps_constants_inside_and_pads_with_zeros():
    flat = torch.full((1, 2, 5, 6), 3.0)
    out = gaussian_smooth(flat, 1.0)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], flat[..., 1:-1, 1:-1])
    k = torch.exp(torch.tensor(-0.5))  # the 1-D kernel is (k, 1, k) / (1 + 2k)
    edge, corner = 3.0 * (1 + k) / (1 + 2 * k), 3.0 * ((1 + k) / (1 + 2 * k)) ** 2
    torch.testing.assert_close(out[0, 0, 0, 2], edge)  # one neighbour row is padding
    torch.testing.assert_close(out[0, 0, 0, 0], corner)


def test_gaussian_smoothing_blurs_a_spike():
    spike = torch.zeros(1, 1, 5, 5)
    spike[0, 0, 2, 2] = 1.0
    out = gaussian_smooth(spike, 1.0)
    assert out[0, 0, 2, 2] < 1.0 and out[0, 0, 1, 2] > 0 and out[0, 0, 0, 0] == 0
    torch.testing.assert_close(out.sum(), torch.tensor(1.0))
    assert gaussian_smooth(spike, 0.0) is spike


def test_a_match_at_exactly_the_threshold_is_not_used():
    """The release keeps matches strictly closer than the threshold."""
    targets, sources, _ = noisy_copy(seed=4)
    free = correspond(targets, sources, everything(1), everything(1), torch.ones(1, 1).bool(), threshold=2.5)
    limit = float(free.distance[0].median())
    match = correspond(targets, sources, everything(1), everything(1), torch.ones(1, 1).bool(), threshold=limit)
    at_limit = free.distance[0] == limit
    assert at_limit.any() and not match.use[0, at_limit].any()
    assert torch.equal(match.use[0], free.distance[0] < limit)
