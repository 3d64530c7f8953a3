"""Vanilla-query mixing against its formula: SDSA layers use w * q_vanilla + (1 - w) * q, with w ramping
linearly from query_mix_start to query_mix_end over the mixing window."""
import torch

from svdstory.attention.call import AttnCall
from svdstory.backbones.unet import unet_site
from svdstory.methods.configs import ConsiStoryConfig
from svdstory.methods.consistory.policy import SubjectPolicy
from svdstory.methods.consistory.query_mixing import QueryMixing
from svdstory.state import BatchLayout, Pass, RunState

N, H, D, GRID = 3, 2, 4, (4, 4)
T = GRID[0] * GRID[1]
UP = unet_site("up_blocks.0.attentions.0.transformer_blocks.0.attn1.processor", levels=1)


def test_weight_ramps_from_start_to_end_over_the_window():
    mixing = QueryMixing(until=0.5, start=0.9, end=0.8)  # 10 steps: the window is steps 0..5
    for step in range(6):
        assert abs(mixing.weight(step, 10) - (0.9 + (0.8 - 0.9) * step / 5)) < 1e-12
    assert mixing.active(5, 10) and not mixing.active(6, 10)


def test_mixed_query_is_the_weighted_sum_and_unrecorded_layers_keep_theirs():
    g = torch.Generator().manual_seed(0)
    own, vanilla = torch.randn(2, 6, H, T, D, generator=g)
    mixing = QueryMixing(until=0.5, start=0.9, end=0.8)
    assert torch.equal(mixing.mix("layer", own, 2, 10), own)
    mixing.record("layer", vanilla)
    w = 0.9 + (0.8 - 0.9) * 2 / 5
    torch.testing.assert_close(mixing.mix("layer", own, 2, 10), w * vanilla + (1 - w) * own, rtol=0, atol=1e-7)


class Attn:
    scale = D ** -0.5


def call_with(query, key, value):
    return AttnCall(UP, None, query, key, value, GRID, None, None, Attn.scale)


def policy(**options):
    """A ConsiStory policy past its first step: subject maps as if recorded, all tokens shared (no dropout)."""
    config = ConsiStoryConfig(mask_dropout=0.0, query_mix_until=0.5, **options)
    p = SubjectPolicy(config, [[[1]] * N], [0, 1, 2], [0, 1])
    maps = torch.rand(N, 1, *GRID, generator=torch.Generator().manual_seed(3))
    p.restore({"maps": {"by_grid": {}, "average": maps}, "pattern": {"grids": set()}})
    return p


def test_sdsa_in_a_mixing_step_attends_with_the_mixed_queries():
    g = torch.Generator().manual_seed(1)
    q, q_vanilla, k, v = torch.randn(4, 2 * N, H, T, D, generator=g)
    state = RunState(BatchLayout(N, True), 10, GRID, step=2)
    mixing = policy()
    assert mixing.passes(state) == (Pass.VANILLA, Pass.SAMPLE)
    state.network_pass = Pass.VANILLA
    mixing.self_attention(call_with(q_vanilla, k, v), state)
    state.network_pass = Pass.SAMPLE
    got = mixing.self_attention(call_with(q, k, v), state)
    w = 0.9 + (0.8184 - 0.9) * 2 / 5
    by_hand = policy(query_mix=False).self_attention(call_with(w * q_vanilla + (1 - w) * q, k, v), state)
    torch.testing.assert_close(got, by_hand, rtol=0, atol=1e-6)
    assert not torch.allclose(got, policy(query_mix=False).self_attention(call_with(q, k, v), state), atol=1e-4)
