"""ConsiStory and 1p1s on FLUX and SD3: where each of their mechanisms reads a DiT (subject maps from the joint
attention's image-query x text-key block at T5 positions, DIFT features from a transformer block, the one
prompt's reweighting on every encoder's tokens), and that each mechanism acts."""
import pytest
import torch
from cases import BASE_OPTIONS, BASE_STEPS

from svdstory import Story, generate
from svdstory.attention.call import AttnCall
from svdstory.backbones import Site
from svdstory.errors import SvdStoryError
from svdstory.methods.configs import ConsiStoryConfig, OnePromptConfig
from svdstory.methods.consistory.maps import token_maps, token_selector
from svdstory.methods.consistory.policy import SubjectPolicy
from svdstory.methods.onepromptonestory.method import one_prompt_conditioning, subject_prompt
from svdstory.methods.onepromptonestory.svr import one_prompt
from svdstory.state import BatchLayout, RunState

STORY = Story("a cat", ("on a beach", "in a city", "in snow"))


@pytest.mark.parametrize("text_first", [True, False], ids=["flux", "sd3"])
def test_subject_maps_come_from_the_image_query_x_text_key_block(text_first):
    """Oracle: softmax over the text keys of each image query, read at the subject's text positions."""
    n, L, grid, H, d = 2, 6, (2, 3), 2, 4
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, H, L + grid[0] * grid[1], d, generator=g) for _ in range(3))
    layer = Site("transformer_blocks.0.attn.processor", "joint", "joint", 0, 1, L)
    call = AttnCall(layer, None, q, k, v, grid, None, None, d ** -0.5, L, text_first)
    positions = [[[2], [3, 4]]]  # one subject: text token 2 in image 0, tokens 3 and 4 in image 1
    policy = SubjectPolicy(ConsiStoryConfig(mask_window=1), positions, [0, 1], [0, 1])
    state = RunState(BatchLayout(n, False), 4, (4, 6), step=0)
    policy.joint_attention(call, state)
    policy.end_step(state)
    image, text = (slice(L, None), slice(0, L)) if text_first else (slice(0, -L), slice(-L, None))
    probs = torch.softmax(q[:, :, image] @ k[:, :, text].mT * d ** -0.5, dim=-1)  # (n, H, T, L)
    torch.testing.assert_close(policy.final_maps(), token_maps(probs, token_selector(positions, n, L), grid))


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_dift_features_are_a_blocks_image_tokens_on_their_grid(runs, kind):
    backbone = runs.model(kind).backbone
    config = ConsiStoryConfig(**{k: v for k, v in backbone.option_defaults.items() if k != "parts"})
    module, read = backbone.dift_source(config.dift_block)
    assert module is backbone.blocks()[len(backbone.blocks()) // 2]  # the middle block, by default
    image = torch.randn(2, 12, 5)  # (B, h*w, C) on a 3x4 grid (a 6x8 latent)
    features = read((torch.randn(2, 7, 5), image), (6, 8))
    assert features.shape == (2, 5, 3, 4) and torch.equal(features[1, :, 2, 1], image[1, 2 * 4 + 1])
    with pytest.raises(SvdStoryError, match=f"option dift_block 9 is not a block of this {kind} model"):
        backbone.dift_source(9)


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_consistory_with_every_mechanism_off_is_vanilla(runs, kind):
    off = {"sdsa": False, "query_mix": False, "injection": False}
    cons, cons_latents = runs(kind, "consistory", off)
    van, van_latents = runs(kind, "vanilla")
    assert torch.equal(cons_latents, van_latents)
    assert cons.masks is not None and cons.maps.shape == (3, 1, 8, 8)  # maps are captured all the same


@pytest.mark.parametrize("kind", ["flux", "sd3"])
@pytest.mark.parametrize("switch", ["sdsa", "query_mix", "injection"])
def test_each_consistory_mechanism_acts_on_a_dit(runs, kind, switch):
    _, full = runs(kind, "consistory", BASE_OPTIONS, steps=BASE_STEPS)
    _, off = runs(kind, "consistory", {**BASE_OPTIONS, switch: False}, steps=BASE_STEPS)
    assert (off - full).abs().max() > 1e-5  # runs are deterministic: any change is the switch


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_an_injection_grid_the_dit_does_not_have_fails_in_one_line(runs, kind):
    with pytest.raises(SvdStoryError, match=r"option injection_factor=4 names no attention grid of this model "
                                            r"\(its grids: 8x8\)"):
        generate(runs.model(kind), STORY, "consistory", {"injection_factor": 4}, runs.sampling(BASE_STEPS))


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_consistory_takes_several_subjects_on_a_dit(runs, kind):
    story = Story("a cat", ("and a dog on a beach", "and a dog in a city"), tokens=("cat", "dog"))
    result = generate(runs.model(kind), story, "consistory", BASE_OPTIONS, runs.sampling(BASE_STEPS))
    assert result.maps.shape[:2] == (2, 2) and len(result.masks[0]) == 2


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_1p1s_reweights_every_encoders_frame_and_end_tokens(runs, kind):
    """On FLUX the T5 tokens (their end and padding tokens stand for CLIP's end tokens); on SD3 the CLIP tokens
    and the T5 tokens after them, each over its own positions."""
    model = runs.model(kind)
    segments = model.backbone.text_segments()
    assert len(segments) == (1 if kind == "flux" else 2)
    cond = one_prompt_conditioning(model, STORY, 5.0, OnePromptConfig())
    plain = one_prompt_conditioning(model, STORY, 5.0, OnePromptConfig(enhance_alpha=0.0, suppress_alpha=0.0,
                                                                        suppress_beta=1.0))
    rows, one = cond.layout.cond(cond.embeds), plain.layout.cond(plain.embeds)[0]
    for tokenizer, start, length in segments:
        prompt = one_prompt(tokenizer, subject_prompt(STORY), list(STORY.scenes), length, start)
        touched = sorted({p for frame in prompt.frames for p in frame} | set(prompt.eot))
        assert start <= touched[0] and touched[-1] == start + length - 1
        kept = [p for p in range(start, start + length) if p not in touched]  # the subject's words, commas
        assert kept and all(torch.equal(row[kept], one[kept]) for row in rows)
        assert not torch.allclose(rows[0][touched], one[touched], atol=1e-4)
        assert not torch.allclose(rows[0][touched], rows[1][touched], atol=1e-4)


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_1p1s_refuses_identity_cross_attention_on_a_dit_in_one_line(runs, kind):
    with pytest.raises(SvdStoryError, match=f"option ipca extends cross-attention, which {kind} models do not have"):
        generate(runs.model(kind), STORY, "1p1s", {"ipca": True}, runs.sampling(steps=1))
