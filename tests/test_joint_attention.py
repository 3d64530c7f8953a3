"""svdstory's joint-attention processor on FLUX and SD3.5: plain attention through it is diffusers' own, its
projection helper gives the layer's own keys, and sharing shares the anchors' image tokens, never their text."""
import pytest
import torch

from svdstory import Story, generate
from svdstory.attention.call import AttnCall
from svdstory.attention.install import joint_processors
from svdstory.attention.policy import PlainPolicy
from svdstory.backbones import Site
from svdstory.backbones.mmdit import image_ids
from svdstory.errors import SvdStoryError
from svdstory.methods.sharing.policy import SharePolicy
from svdstory.state import BatchLayout, RunState

STORY = Story("a cat", ("on a beach", "in a city", "in snow"))


def _flux_inputs(model, n=2, side=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    config = model.pipe.transformer.config
    return dict(hidden_states=torch.randn(n, (side // 2) ** 2, config.in_channels, generator=g),
                encoder_hidden_states=torch.randn(n, 32, config.joint_attention_dim, generator=g),
                pooled_projections=torch.randn(n, config.pooled_projection_dim, generator=g),
                timestep=torch.full((n,), 0.7), guidance=torch.full((n,), 3.5),
                txt_ids=torch.zeros(32, 3), img_ids=image_ids(side // 2, side // 2, "cpu", torch.float32),
                return_dict=False)


def _sd3_inputs(model, n=2, side=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    config, text = model.pipe.transformer.config, model.backbone.text_offset + model.backbone.text_len
    return dict(hidden_states=torch.randn(n, config.in_channels, side, side, generator=g),
                encoder_hidden_states=torch.randn(n, text, config.joint_attention_dim, generator=g),
                pooled_projections=torch.randn(n, config.pooled_projection_dim, generator=g),
                timestep=torch.full((n,), 700.0), return_dict=False)


INPUTS = {"flux": _flux_inputs, "sd3": _sd3_inputs}


class Spy(PlainPolicy):
    """Plain attention that keeps every call it was handed."""

    def __init__(self):
        self.calls = []

    def joint_attention(self, call, state):
        self.calls.append(call)
        return super().joint_attention(call, state)

    def self_attention(self, call, state):
        self.calls.append(call)
        return super().self_attention(call, state)


def _through(model, policy, inputs):
    """The transformer's output on `inputs` with svdstory's processor and `policy`, the stock processors after."""
    transformer, backbone = model.pipe.transformer, model.backbone
    stock = {name: type(p) for name, p in transformer.attn_processors.items()}
    state = RunState(BatchLayout(inputs["hidden_states"].shape[0], False), 1, (8, 8), step=0)
    with joint_processors(transformer, backbone.sites(), policy, state, backbone.text_first):
        out = transformer(**inputs)[0]
    assert {name: type(p) for name, p in transformer.attn_processors.items()} == stock  # restored
    return out


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_plain_attention_through_the_joint_processor_is_diffusers_own(runs, kind):
    """FLUX's double and single blocks (rotary embeddings), SD3.5's joint blocks and its image-only attn2."""
    model = runs.model(kind)
    inputs = INPUTS[kind](model)
    with torch.no_grad():
        assert torch.equal(_through(model, PlainPolicy(), inputs), model.pipe.transformer(**inputs)[0])


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_every_call_holds_image_and_text_tokens_where_the_backbone_says(runs, kind):
    model, spy = runs.model(kind), Spy()
    with torch.no_grad():
        _through(model, spy, INPUTS[kind](model))
    sites = {site.name: site for site in model.backbone.sites()}
    assert [call.layer.name for call in spy.calls] == list(sites)  # one call per site, in the blocks' order
    for call in spy.calls:
        site = sites[call.layer.name]
        text = site.text_len or 0
        assert call.text_len == text and call.grid == site.grid((8, 8)) == (4, 4)
        assert call.key.shape[2] == text + 16 and call.image_key.shape[2] == 16
        assert call.hidden_states.shape[1] == 16 and call.scale == pytest.approx(call.query.shape[-1] ** -0.5)


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_the_text_a_joint_site_reads_is_what_the_backbone_encodes(runs, kind):
    """SD3's text sequence is CLIP's tokens, then T5's; a subject's positions are T5's, after CLIP's."""
    backbone = runs.model(kind).backbone
    embeds = backbone.encode(["a cat on a beach"], 5.0).embeds
    assert {site.text_len for site in backbone.sites() if site.kind == "joint"} == {embeds.shape[1]}
    t5 = backbone.tokenizers[-1]
    cat = t5("a cat on a beach").input_ids.index(t5("cat", add_special_tokens=False).input_ids[0])
    assert backbone.token_positions(["a cat on a beach"], ("cat",)) == [[[backbone.text_offset + cat]]]
    assert backbone.text_offset == (0 if kind == "flux" else backbone.tokenizers[0].model_max_length)


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_the_projection_helper_gives_the_layers_own_image_keys_and_values(runs, kind):
    """What svd's hidden target re-projects: with FLUX's rotary embedding at the image positions, for one image
    and for two images' tokens side by side (the anchors')."""
    model, spy = runs.model(kind), Spy()
    with torch.no_grad():
        _through(model, spy, INPUTS[kind](model))
        for call in spy.calls:
            key, value = call.project(call.hidden_states)
            torch.testing.assert_close(key, call.image_key, rtol=0, atol=1e-6)
            torch.testing.assert_close(value, call.image_value, rtol=0, atol=1e-6)
            both = call.project(call.hidden_states.flatten(0, 1).unsqueeze(0))[0]  # (1, H, 2T, d)
            torch.testing.assert_close(both, torch.cat(list(call.image_key), dim=1).unsqueeze(0), rtol=0, atol=1e-6)
    if kind == "flux":
        with pytest.raises(SvdStoryError, match="cannot be projected on a model with rotary embeddings"):
            call.project(call.hidden_states[:, :5])


def _joint_call(n, text_len, grid, text_first, heads=2, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(n, heads, text_len + grid[0] * grid[1], d, generator=g) for _ in range(3))
    layer = Site("transformer_blocks.0.attn.processor", "joint", "double", 0, 1, text_len)
    return AttnCall(layer, None, q, k, v, grid, None, None, None, text_len, text_first)


@pytest.mark.parametrize("text_first", [True, False], ids=["flux", "sd3"])
def test_shared_on_a_joint_call_extends_every_token_with_the_anchors_image_tokens_only(text_first):
    """Oracle: image i's queries (text and image) over [its own tokens, image tokens of the anchors but i]."""
    n, text_len, grid, anchors = 3, 5, (2, 3), [0, 1]
    call = _joint_call(n, text_len, grid, text_first)
    image = slice(text_len, None) if text_first else slice(0, grid[0] * grid[1])
    state = RunState(BatchLayout(n, False), 4, (4, 6), step=0)
    out = SharePolicy(("double",), (0.0, 1.0), anchors).joint_attention(call, state)
    for i in range(n):
        others = [a for a in anchors if a != i]
        keys = torch.cat([call.key[i]] + [call.key[a, :, image] for a in others], dim=1)  # (H, own + shared, d)
        values = torch.cat([call.value[i]] + [call.value[a, :, image] for a in others], dim=1)
        weights = torch.softmax(call.query[i] @ keys.mT / call.query.shape[-1] ** 0.5, dim=-1)
        torch.testing.assert_close(out[i], weights @ values)


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_shared_with_no_other_anchor_is_plain_attention(runs, kind):
    """One image is its own only anchor: nothing is shared, and the images are vanilla's."""
    one, model = Story("a cat", ("on a beach",)), runs.model(kind)
    shared = generate(model, one, "shared", sampling=runs.sampling(steps=2))
    plain = generate(model, one, "vanilla", sampling=runs.sampling(steps=2))
    assert abs(runs.pixels(shared.images) - runs.pixels(plain.images)).max() == 0


@pytest.mark.parametrize("kind, blocks", [("flux", "double.0, single.0"), ("sd3", "joint.0, joint.1")])
def test_parts_a_dit_does_not_have_are_named_in_one_line(runs, kind, blocks):
    with pytest.raises(SvdStoryError, match=rf"option parts=up selects no attention layer of this model "
                                            rf"\(its attention blocks: {blocks}\)"):
        generate(runs.model(kind), STORY, "shared", {"parts": ("up",)}, runs.sampling(steps=1))
