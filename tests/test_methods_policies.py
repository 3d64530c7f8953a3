"""The mask-free sharing policies on built tensors, against brute force: who sees which tokens, and how."""
import types

import pytest
import torch
from diffusers.models.attention_processor import Attention

from svdstory.attention.call import AttnCall, sdpa
from svdstory.attention.processor import projection
from svdstory.backbones.unet import unet_site
from svdstory.methods.anchored import anchor_indices
from svdstory.methods.configs import StoryDiffusionConfig
from svdstory.methods.onepromptonestory.method import SubjectPromptAttention
from svdstory.methods.sharing.policy import SharePolicy
from svdstory.methods.sharing.storydiffusion import make_policy as story_policy
from svdstory.methods.sharing.svd_targets import TARGETS
from svdstory.spectral import parse_spec
from svdstory.state import BatchLayout, RunState

H, D, T = 2, 4, 12  # heads, head dim, tokens per image
C = H * D
UP = unet_site("up_blocks.1.attentions.0.transformer_blocks.0.attn1.processor", levels=1)
OTHER_UP = unet_site("up_blocks.1.attentions.1.transformer_blocks.0.attn1.processor", levels=1)
DOWN = unet_site("down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor", levels=1)


def attention(seed=0, dtype=torch.float32, context_dim=None):
    torch.manual_seed(seed)
    return Attention(query_dim=C, cross_attention_dim=context_dim, heads=H, dim_head=D).eval().to(dtype)


def heads(x):
    return x.view(x.shape[0], -1, H, D).transpose(1, 2)  # (B, H, tokens, d)


def make_call(layout, attn, seed=1, layer=UP, dtype=torch.float32, tokens=T):
    """A self-attention call projected as StoryAttnProcessor projects it, from random hidden states."""
    hidden = torch.randn(layout.chunks * layout.n_images, tokens, C, generator=torch.Generator().manual_seed(seed))
    hidden = hidden.to(dtype)
    with torch.no_grad():
        q, k, v = (heads(f(hidden)) for f in (attn.to_q, attn.to_k, attn.to_v))
    return AttnCall(layer, projection(attn), q, k, v, (1, tokens), hidden, None, attn.scale)


class Attached:
    """A policy and the run state its hooks are given, called as the processor calls them."""

    def __init__(self, policy, state):
        self.policy, self.state = policy, state

    def self_attention(self, call):
        return self.policy.self_attention(call, self.state)

    def cross_attention(self, call):
        return self.policy.cross_attention(call, self.state)

    def select(self, call, shape):
        return self.policy.select(call, self.state, shape)


def attach(policy, layout, step=0, num_steps=4):
    return Attached(policy, RunState(layout, num_steps, (1, T), step=step))


def truncate(x, rank):
    """Best rank-`rank` approximation of each matrix in x (..., m, n), in float64."""
    U, S, Vh = torch.linalg.svd(x.double(), full_matrices=False)
    return (U[..., :rank] * S[..., None, :rank]) @ Vh[..., :rank, :]


def brute_force(call, layout, visible, shared_k=None, shared_v=None, cross_rank=None):
    """Explicit softmax in float64 over own keys + the (image, token mask) pairs in visible(i).

    shared_k/v (chunks, n, H, T, d) replace the other images' keys/values (default: their own);
    cross_rank truncates the probabilities of the other images' tokens (the `attn` target).
    """
    q, k, v = (x.double() for x in (call.query, call.key, call.value))
    split = lambda x: layout.split(x)
    sk = split(k) if shared_k is None else shared_k.double()
    sv = split(v) if shared_v is None else shared_v.double()
    out = torch.empty_like(q)
    for c in range(layout.chunks):
        for i in range(layout.n_images):
            b = c * layout.n_images + i
            K = torch.cat([k[b]] + [sk[c, a][:, m] for a, m in visible(i)], dim=1)  # (H, T+S', d)
            V = torch.cat([v[b]] + [sv[c, a][:, m] for a, m in visible(i)], dim=1)
            p = torch.softmax(q[b] @ K.mT * call.scale, dim=-1)  # (H, T, T+S')
            if cross_rank is not None and p.shape[-1] > T:
                p = torch.cat([p[..., :T], truncate(p[..., T:], cross_rank)], dim=-1)
            out[b] = p @ V
    return out


def all_of(anchors):
    """Image i sees every token of every anchor other than itself."""
    return lambda i: [(a, torch.ones(T, dtype=torch.bool)) for a in anchors if a != i]


def test_anchor_indices():
    assert anchor_indices(4, 2) == [0, 1]
    assert anchor_indices(4, 0) == [0, 1, 2, 3]
    assert anchor_indices(1, 2) == [0]


@pytest.mark.parametrize("cfg", [True, False])
@pytest.mark.parametrize("n_anchors", [2, 0, 1])
def test_shared_policy_equals_brute_force(cfg, n_anchors):
    layout = BatchLayout(4, cfg)
    anchors = anchor_indices(4, n_anchors)
    attn = attention()
    call = make_call(layout, attn)
    ours = attach(SharePolicy(("up",), (0.0, 1.0), anchors), layout).self_attention(call)
    torch.testing.assert_close(ours.double(), brute_force(call, layout, all_of(anchors)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("layer,step,window", [(DOWN, 1, (0.0, 1.0)), (UP, 3, (0.0, 0.5)), (UP, 0, (0.5, 1.0))])
def test_shared_policy_is_plain_attention_outside_its_parts_and_steps(layer, step, window):
    layout = BatchLayout(3, True)
    call = make_call(layout, attention(), layer=layer)
    policy = attach(SharePolicy(("up",), window, [0, 1]), layout, step=step, num_steps=4)
    assert torch.equal(policy.self_attention(call), sdpa(call))


@pytest.mark.parametrize("parts,shares", [(("up.1",), True), (("up.0",), False), (("down", "up.1"), True)])
def test_parts_name_whole_parts_or_single_blocks(parts, shares):
    layout = BatchLayout(3, True)
    call = make_call(layout, attention(), layer=UP)  # a layer of up-block 1
    assert UP.depth == 1
    policy = attach(SharePolicy(parts, (0.0, 1.0), [0, 1]), layout)
    assert torch.equal(policy.self_attention(call), sdpa(call)) != shares


def _target_policy(target, zero, anchors):
    transform = TARGETS[target](parse_spec(zero))
    return SharePolicy(("up",), (0.0, 1.0), anchors, transform, keep_hidden=target == "hidden")


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("zero", ["energy:1.0", "rank:64"])
@pytest.mark.parametrize("anchors", [[0, 1], [0]])
def test_full_rank_targets_equal_brute_force(target, zero, anchors):
    """A spec that keeps every direction still runs the target's own path (the `attn` target's explicit
    softmax included) and must agree with SDPA over the same tokens to float32 rounding."""
    layout = BatchLayout(3, True)
    call = make_call(layout, attention())
    ours = attach(_target_policy(target, zero, anchors), layout).self_attention(call)
    torch.testing.assert_close(ours.double(), brute_force(call, layout, all_of(anchors)), rtol=0, atol=2e-6)


@pytest.mark.parametrize("anchors", [[0, 1], [0]])
def test_kv_target_truncates_each_heads_anchor_keys_and_values(anchors):
    layout, attn = BatchLayout(3, True), attention()
    call = make_call(layout, attn)
    ours = attach(_target_policy("kv", "rank:1", anchors), layout).self_attention(call)

    def rank1(x):  # (B, H, T, d) -> (chunks, n, H, T, d), the anchors' tokens stacked (A*T x d) and truncated
        sub = layout.split(x)[:, anchors]  # (c, A, H, T, d)
        c, a = sub.shape[:2]
        flat = truncate(sub.permute(0, 2, 1, 3, 4).reshape(c, H, a * T, D), 1)
        out = layout.split(x).double().clone()
        out[:, anchors] = flat.view(c, H, a, T, D).permute(0, 2, 1, 3, 4)
        return out

    expected = brute_force(call, layout, all_of(anchors), rank1(call.key), rank1(call.value))
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-6)
    assert not torch.allclose(ours.double(), brute_force(call, layout, all_of(anchors)), atol=1e-3)


def test_hidden_target_truncates_the_anchors_stacked_hidden_states():
    layout, attn, anchors = BatchLayout(3, True), attention(), [0, 1]
    call = make_call(layout, attn)
    ours = attach(_target_policy("hidden", "rank:1", anchors), layout).self_attention(call)
    sub = layout.split(call.hidden_states)[:, anchors]  # (c, A, T, C)
    flat = truncate(sub.reshape(layout.chunks, -1, C), 1).float()  # (c, A*T, C)
    with torch.no_grad():
        project = lambda f: heads(f(flat)).view(layout.chunks, H, len(anchors), T, D).transpose(1, 2)
        sk, sv = layout.split(call.key).clone(), layout.split(call.value).clone()
        sk[:, anchors], sv[:, anchors] = project(attn.to_k), project(attn.to_v)
    expected = brute_force(call, layout, all_of(anchors), sk, sv)
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-6)
    assert not torch.allclose(ours.double(), brute_force(call, layout, all_of(anchors)), atol=1e-3)


@pytest.mark.parametrize("anchors", [[0, 1], [0]])
def test_attn_target_truncates_the_cross_image_probabilities(anchors):
    layout = BatchLayout(3, True)
    call = make_call(layout, attention())
    ours = attach(_target_policy("attn", "rank:1", anchors), layout).self_attention(call)
    expected = brute_force(call, layout, all_of(anchors), cross_rank=1)
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-6)
    assert torch.isfinite(ours).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("decomposition", ["auto", "exact"])
def test_reduced_precision_inputs_are_decomposed_in_float32(monkeypatch, dtype, target, decomposition):
    seen = []
    for name in ("svd", "eigh"):
        original = getattr(torch.linalg, name)
        spy = lambda M, *a, _f=original, _n=name, **k: seen.append((_n, M.dtype)) or _f(M, *a, **k)
        monkeypatch.setattr(torch.linalg, name, spy)
    layout = BatchLayout(3, True)
    call = make_call(layout, attention(dtype=dtype), dtype=dtype)
    transform = TARGETS[target](parse_spec("rank:1"), decomposition)
    policy = SharePolicy(("up",), (0.0, 1.0), [0, 1], transform, keep_hidden=target == "hidden")
    out = attach(policy, layout).self_attention(call)
    assert seen and {d for _, d in seen} == {torch.float32}, seen
    assert out.dtype == dtype and torch.isfinite(out).all()


# --- storydiffusion: a random sample of the shared tokens ---------------------------------------------------


def sampled_policy(rate, seeds, anchors):
    ctx = types.SimpleNamespace(seeds=list(seeds))
    return story_policy(ctx, StoryDiffusionConfig(sample_rate=rate), anchors, None)


def selection(policy, layer=UP, step=0, shape=(4, 4096)):
    attached = attach(policy, BatchLayout(shape[0], True), step=step)
    call = types.SimpleNamespace(layer=layer, query=torch.zeros(1))
    return attached.select(call, shape)


@pytest.mark.parametrize("rate", [0.5, 0.2, 0.9])
def test_selection_keeps_about_sample_rate_of_the_tokens(rate):
    mask = selection(sampled_policy(rate, [0, 1, 2, 3], [0, 1, 2, 3]))
    assert mask.dtype == torch.bool and mask.shape == (4, 4096)
    kept = mask.float().mean(dim=1)  # per image: binomial, sd = sqrt(r(1-r)/4096) < 0.008
    assert ((kept > rate - 0.05) & (kept < rate + 0.05)).all(), kept


def test_selection_is_all_or_nothing_at_the_ends():
    assert selection(sampled_policy(1.0, [3, 4], [0, 1]), shape=(2, 50)).all()
    assert not selection(sampled_policy(0.0, [3, 4], [0, 1]), shape=(2, 50)).any()


def test_selection_is_seeded_per_image_step_and_layer():
    base = selection(sampled_policy(0.5, [5, 7, 9], [0, 1]), shape=(3, 256))
    assert torch.equal(base, selection(sampled_policy(0.5, [5, 7, 9], [0, 1]), shape=(3, 256)))
    # a row depends only on its image's seed: an image drawn alone (an extra) gets the same row
    assert torch.equal(base[2:], selection(sampled_policy(0.5, [9], []), shape=(1, 256)))
    assert not torch.equal(base[0], base[1])
    assert not torch.equal(base, selection(sampled_policy(0.5, [5, 7, 9], [0, 1]), step=1, shape=(3, 256)))
    assert not torch.equal(base, selection(sampled_policy(0.5, [5, 7, 9], [0, 1]), layer=OTHER_UP, shape=(3, 256)))
    assert not torch.equal(base, selection(sampled_policy(0.5, [6, 7, 9], [0, 1]), shape=(3, 256))[:1])


@pytest.mark.parametrize("n_anchors", [0, 2])
def test_storydiffusion_sees_exactly_the_sampled_tokens(n_anchors):
    layout = BatchLayout(4, True)
    anchors = anchor_indices(4, n_anchors)
    call = make_call(layout, attention())
    policy = attach(sampled_policy(0.5, [10, 11, 12, 13], anchors), layout, step=2)
    ours = policy.self_attention(call)
    allowed = policy.select(call, (4, len(anchors) * T))  # deterministic: the same draw again
    visible = lambda i: [(a, allowed[i, s * T:(s + 1) * T]) for s, a in enumerate(anchors) if a != i]
    torch.testing.assert_close(ours.double(), brute_force(call, layout, visible), rtol=0, atol=1e-6)
    assert not torch.allclose(ours.double(), brute_force(call, layout, all_of(anchors)), atol=1e-4)


# --- 1p1s: identity-preserving cross-attention ----------------------------------------------------------------


@pytest.mark.parametrize("cfg", [True, False])
def test_ipca_extends_only_the_conditional_half(cfg):
    L, context_dim = 5, 6
    layout = BatchLayout(2, cfg)
    attn = attention(context_dim=context_dim)
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(layout.chunks * 2, T, C, generator=g)
    context = torch.randn(layout.chunks * 2, L, context_dim, generator=g)
    subject = torch.randn(1, L, context_dim, generator=g)
    with torch.no_grad():
        q, k, v = heads(attn.to_q(hidden)), heads(attn.to_k(context)), heads(attn.to_v(context))
        ik, iv = heads(attn.to_k(subject)), heads(attn.to_v(subject))  # (1, H, L, d)
    cross = unet_site("up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor", levels=1, text_len=5)
    call = AttnCall(cross, projection(attn), q, k, v, (1, T), hidden, None, attn.scale)
    policy = attach(SubjectPromptAttention(subject), layout)
    with torch.no_grad():
        ours = policy.cross_attention(call)
    plain = sdpa(call)
    cond = slice(2, 4) if cfg else slice(0, 2)
    if cfg:  # the unconditional half keeps its own context only
        torch.testing.assert_close(ours[:2], plain[:2], rtol=0, atol=1e-6)
    K, V = torch.cat([k[cond], ik.expand(2, -1, -1, -1)], dim=2), torch.cat([v[cond], iv.expand(2, -1, -1, -1)], dim=2)
    expected = torch.softmax(q[cond] @ K.mT * attn.scale, dim=-1) @ V
    torch.testing.assert_close(ours[cond], expected, rtol=0, atol=1e-6)
    assert not torch.allclose(ours[cond], plain[cond], atol=1e-4)


def test_parts_that_select_no_attention_layer_fail_in_one_line():
    from svdstory.attention.spatial import check_parts_match
    from svdstory.errors import SvdStoryError

    layers = [UP, DOWN, unet_site("up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor", levels=1)]
    check_parts_match(("up",), layers, "parts")
    check_parts_match(("down.1",), layers, "parts")
    with pytest.raises(SvdStoryError, match=r"parts=up\.0 selects no attention layer.*down\.1, up\.1"):
        check_parts_match(("up.0",), layers, "parts")
