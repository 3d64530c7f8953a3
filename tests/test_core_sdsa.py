"""Subject-driven self-attention against brute force: each query sees exactly the keys it is allowed."""
import pytest
import torch

from svdstory.anchors import AnchorRecorder
from svdstory.attention.extended import allowed_anchor_tokens, anchor_keys
from svdstory.attention.extended import AllTokens, AnchorSlots, compact
from svdstory.state import BatchLayout

H, T, D = 2, 12, 4
SCALE = D ** -0.5


def qkv(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (layout.chunks * layout.n_images, H, T, D)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


def planted_share(n, seed=1):
    share = torch.rand(n, T, generator=torch.Generator().manual_seed(seed)) > 0.5
    share[:, 0], share[:, 1] = True, False  # never empty, never full
    return share


def shared_attention(q, k, v, shared_k, shared_v, tokens, layout, scale, chunk=None):
    return tokens.attend(q, k, v, shared_k, shared_v, layout, scale, chunk)


def brute_force(q, k, v, layout, visible):
    """Explicit softmax; visible(chunk, i) lists (image, token mask) pairs of extra keys query image i sees."""
    out = torch.empty_like(q)
    for c in range(layout.chunks):
        for i in range(layout.n_images):
            b = c * layout.n_images + i
            keys, values = [k[b]], [v[b]]
            for src_k, src_v, tokens in visible(c, i):
                keys.append(src_k[:, tokens])
                values.append(src_v[:, tokens])
            K, V = torch.cat(keys, dim=1), torch.cat(values, dim=1)  # (H, S, d)
            weights = torch.softmax(q[b] @ K.transpose(-1, -2) * SCALE, dim=-1)
            out[b] = weights @ V
    return out


def batch_run(q, k, v, layout, share, anchors):
    allowed = allowed_anchor_tokens(share, anchors, layout.n_images)
    sk, sv = anchor_keys(k, layout, anchors), anchor_keys(v, layout, anchors)
    return shared_attention(q, k, v, sk, sv, compact(allowed, "cpu"), layout, SCALE)


def in_batch_visibility(k, v, layout, share, anchors):
    n = layout.n_images
    return lambda c, i: [(k[c * n + a], v[c * n + a], share[a]) for a in anchors if a != i]


@pytest.mark.parametrize("cfg", [True, False])
@pytest.mark.parametrize("anchors", [[0, 1], [0, 2], [1]])
def test_shared_attention_equals_brute_force(cfg, anchors):
    layout = BatchLayout(4, cfg)
    q, k, v = qkv(layout)
    share = planted_share(4)
    ours = batch_run(q, k, v, layout, share, anchors)
    expected = brute_force(q, k, v, layout, in_batch_visibility(k, v, layout, share, anchors))
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)


def test_allowed_tokens_hide_an_anchors_own_duplicate():
    share = planted_share(3)
    allowed = allowed_anchor_tokens(share, [0, 1], 3)  # (n, A*T)
    assert allowed.shape == (3, 2 * T)
    assert not allowed[0, :T].any() and torch.equal(allowed[0, T:], share[1])
    assert not allowed[1, T:].any() and torch.equal(allowed[1, :T], share[0])
    assert torch.equal(allowed[2], torch.cat([share[0], share[1]]))  # an extra sees both anchors' masks


def test_anchor_with_nothing_to_share_is_plain_self_attention():
    layout = BatchLayout(2, True)
    q, k, v = qkv(layout)
    share = torch.zeros(2, T, dtype=torch.bool)
    ours = batch_run(q, k, v, layout, share, [0, 1])
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=SCALE)
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-10)


def test_guidance_chunks_stay_apart():
    layout = BatchLayout(3, True)
    q, k, v = qkv(layout)
    share = planted_share(3)
    before = batch_run(q, k, v, layout, share, [0, 1])
    k2, v2 = k.clone(), v.clone()
    k2[:3] += 5.0  # change only the unconditional chunk's keys and values
    v2[:3] -= 3.0
    after = batch_run(q, k2, v2, layout, share, [0, 1])
    torch.testing.assert_close(after[3:], before[3:], rtol=0, atol=0)
    assert not torch.allclose(after[:3], before[:3])


def test_masked_out_anchor_tokens_have_no_influence():
    layout = BatchLayout(3, False)
    q, k, v = qkv(layout)
    share = planted_share(3)
    before = batch_run(q, k, v, layout, share, [0, 1])
    k2, v2 = k.clone(), v.clone()
    k2[0][:, ~share[0]] = 9.0  # tokens outside anchor 0's mask
    v2[0][:, ~share[0]] = -9.0
    after = batch_run(q, k2, v2, layout, share, [0, 1])
    torch.testing.assert_close(after[1:], before[1:], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cfg", [True, False])
def test_cached_extra_sees_exactly_the_anchors_masked_tokens(cfg):
    """anchors+extras: the cache packs the anchors' masked keys; an extra then attends without a mask."""
    anchors_layout, extra_layout = BatchLayout(2, cfg), BatchLayout(1, cfg)
    _, ak, av = qkv(anchors_layout, seed=3)
    q, k, v = qkv(extra_layout, seed=4)
    share = planted_share(2)
    recorder = AnchorRecorder()
    recorder.record_masked_kv("layer", ak, av, share, anchors_layout)
    sk, sv = recorder.cache.kv["layer"]
    assert sk.shape == (anchors_layout.chunks, H, int(share.sum()), D)
    ours = shared_attention(q, k, v, sk, sv, AllTokens(), extra_layout, SCALE)
    n = anchors_layout.n_images
    visible = lambda c, i: [(ak[c * n + a], av[c * n + a], share[a]) for a in range(n)]
    torch.testing.assert_close(ours, brute_force(q, k, v, extra_layout, visible), rtol=0, atol=1e-10)


def test_cached_extra_matches_the_same_image_inside_the_batch():
    """The extra at index 2 of a batch and the same extra against the cache attend identically."""
    layout = BatchLayout(3, True)
    q, k, v = qkv(layout, seed=5)
    share = planted_share(3)
    in_batch = batch_run(q, k, v, layout, share, [0, 1])
    anchors_only = BatchLayout(2, True)
    pick = lambda x, idx: BatchLayout(len(idx), True).merge(layout.split(x)[:, idx])
    recorder = AnchorRecorder()
    recorder.record_masked_kv("l", pick(k, [0, 1]), pick(v, [0, 1]), share[:2], anchors_only)
    sk, sv = recorder.cache.kv["l"]
    alone = shared_attention(pick(q, [2]), pick(k, [2]), pick(v, [2]), sk, sv, AllTokens(), BatchLayout(1, True),
                             SCALE)
    torch.testing.assert_close(alone, pick(in_batch, [2]), rtol=0, atol=1e-10)


@pytest.mark.parametrize("chunk", [None, 5])
@pytest.mark.parametrize("cfg", [True, False])
@pytest.mark.parametrize("anchors", [[0, 1], [1, 3], [2], []])
def test_anchor_slots_equal_the_masked_form_and_brute_force(cfg, anchors, chunk):
    """The mask-free grouping (SDPA can take its flash kernel) sees exactly what the dense mask allows."""
    layout = BatchLayout(4, cfg)
    q, k, v = qkv(layout, seed=3)
    if anchors:
        sk, sv = anchor_keys(k, layout, anchors), anchor_keys(v, layout, anchors)
    else:  # a replayed cache: shared tokens from elsewhere, every image sees all of them
        _, sk, sv = qkv(BatchLayout(2, cfg), seed=4)
        sk, sv = anchor_keys(sk, BatchLayout(2, cfg), [0, 1]), anchor_keys(sv, BatchLayout(2, cfg), [0, 1])
    slots = AnchorSlots(tuple(anchors))
    ours = shared_attention(q, k, v, sk, sv, slots, layout, SCALE, chunk)
    dense = shared_attention(q, k, v, sk, sv, compact(slots.dense(4, sk.shape[2], "cpu"), "cpu"), layout, SCALE,
                             chunk)
    torch.testing.assert_close(ours, dense, rtol=0, atol=1e-10)
    if anchors:
        everything = torch.ones(4, T, dtype=torch.bool)
        expected = brute_force(q, k, v, layout, in_batch_visibility(k, v, layout, everything, anchors))
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)
    else:
        assert not torch.equal(ours, shared_attention(q, k, v, sk[..., :T, :], sv[..., :T, :], AllTokens(), layout,
                                                      SCALE))


@pytest.mark.parametrize("seen", ["none", "one_row"])
def test_compacted_shared_tokens_with_empty_rows(seen):
    """Rows that may see no shared token attend to their own tokens only, even when every row is empty."""
    layout = BatchLayout(3, True)
    q, k, v = qkv(layout, seed=7)
    sk, sv = anchor_keys(k, layout, [0, 1]), anchor_keys(v, layout, [0, 1])
    allowed = torch.zeros(3, sk.shape[2], dtype=torch.bool)
    if seen == "one_row":
        allowed[2, 3:9] = True
    ours = shared_attention(q, k, v, sk, sv, compact(allowed, "cpu"), layout, SCALE)
    own_only = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=SCALE)
    rows = [0, 1, 3, 4] if seen == "one_row" else list(range(6))
    torch.testing.assert_close(ours[rows], own_only[rows], rtol=0, atol=1e-10)
    if seen == "one_row":
        assert not torch.allclose(ours[[2, 5]], own_only[[2, 5]])


def test_compact_groups_consecutive_identical_rows_and_lists_their_tokens():
    allowed = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 1], [1, 1, 0, 1], [0, 1, 1, 0]], dtype=torch.bool)
    out = compact(allowed, "cpu")
    assert out.groups == ((0, 1), (1, 2), (2, 4), (4, 5))  # rows 2 and 3 alike; row 4 equals row 1 but not next to it
    assert [idx.tolist() for idx in out.indices] == [[0, 2], [1, 2], [0, 1, 3], [1, 2]]


@pytest.mark.parametrize("anchors", [[0, 1], [1, 3]])
def test_packed_attention_equals_brute_force(anchors):
    """Each batch row over its own tokens and the shared tokens it may see, gathered from the batch's
    keys by one index list (the variable-length route; per-row calls where that kernel does not run)."""
    from svdstory.attention.extended import pack

    layout = BatchLayout(4, True)
    q, k, v = qkv(layout, seed=11)
    q = q.transpose(1, 2).contiguous().transpose(1, 2)  # the processor's storage
    share = planted_share(4, seed=12)
    packed = pack(allowed_anchor_tokens(share, anchors, 4), anchors, layout, T, "cpu")
    assert packed.lengths[0] == T + sum(int(share[a].sum()) for a in anchors if a != 0)
    ours = shared_attention(q, k, v, None, None, packed, layout, SCALE)
    expected = brute_force(q, k, v, layout, in_batch_visibility(k, v, layout, share, anchors))
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)


def test_picking_images_by_slice_or_index_tensor_gives_list_indexing():
    """pick_images never indexes with a Python list (a blocking copy on a GPU) yet returns the same rows."""
    from svdstory.attention.transfer import pick_images

    split = torch.arange(2 * 5 * 3).view(2, 5, 3)
    for images in ([1, 2], [0, 3], [4, 1, 2]):
        assert torch.equal(pick_images(split, images), split[:, images])


def test_host_copy_of_a_host_tensor_is_that_tensor():
    from svdstory.attention.transfer import to_host_later

    x = torch.tensor([[True, False], [False, True]])
    assert to_host_later(x).get() is x


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_anchor_rows_and_host_copies_never_wait_for_the_gpu():
    """On a GPU, picking anchor rows (consecutive or not) and starting a pattern's copy to the host make
    no synchronising call; the copy holds the values of the time it was queued."""
    from svdstory.attention.transfer import pick_images, to_host_later

    share = torch.rand(4, 64, device="cuda") > 0.5
    torch.cuda.set_sync_debug_mode("error")
    try:
        picked = pick_images(share.unsqueeze(0), [0, 2])
        allowed = allowed_anchor_tokens(share, [0, 1], 4)
        copy = to_host_later(allowed)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    want = allowed.cpu()
    allowed.fill_(False)
    assert torch.equal(copy.get(), want) and torch.equal(picked[0].cpu(), share[[0, 2]].cpu())
