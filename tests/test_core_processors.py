"""With sharing switched off, svdstory's processors and loop reproduce diffusers exactly."""
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from svdstory import Story, generate
from svdstory.attention.install import story_processors
from svdstory.attention.policy import PlainPolicy
from svdstory.attention.processor import StoryAttnProcessor
from svdstory.sampling import initial_latents
from svdstory.state import BatchLayout, RunState


def unet_inputs(model, batch=4, hw=(16, 12), seed=0):
    """Random UNet inputs on a non-square latent; SDXL also gets its added conditioning."""
    g = torch.Generator().manual_seed(seed)
    unet = model.pipe.unet
    x = torch.randn(batch, unet.config.in_channels, *hw, generator=g)
    text = torch.randn(batch, 7, unet.config.cross_attention_dim, generator=g)
    added = None
    if model.is_sdxl:
        pooled = model.pipe.text_encoder_2.config.projection_dim
        added = {"text_embeds": torch.randn(batch, pooled, generator=g),
                 "time_ids": torch.tensor([[32.0, 24.0, 0.0, 0.0, 32.0, 24.0]] * batch)}
    return x, text, added


def unet_out(unet, x, text, added, mask=None):
    with torch.no_grad():
        return unet(x, 321, encoder_hidden_states=text, added_cond_kwargs=added, encoder_attention_mask=mask).sample


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_plain_policy_matches_attn_processor_2_0(models, kind, with_mask):
    model = models[kind]
    unet = model.pipe.unet
    x, text, added = unet_inputs(model)
    # a padding mask on the text exercises the attention-mask path of the processor
    mask = torch.ones(x.shape[0], text.shape[1]) if with_mask else None
    if with_mask:
        mask[:, -3:] = 0
    original = unet.attn_processors
    unet.set_attn_processor(AttnProcessor2_0())
    try:
        stock = unet_out(unet, x, text, added, mask)
    finally:
        unet.set_attn_processor(original)
    state = RunState(BatchLayout(x.shape[0], False), 1, tuple(x.shape[-2:]))
    with story_processors(unet, model.backbone.sites(), PlainPolicy(), state):
        assert all(isinstance(p, StoryAttnProcessor) for p in unet.attn_processors.values())
        ours = unet_out(unet, x, text, added, mask)
    assert torch.allclose(ours, stock, rtol=1e-5, atol=1e-6)
    if with_mask:  # the mask must matter, or this test would not see a mishandled mask
        assert not torch.allclose(unet_out(unet, x, text, added), stock, atol=1e-4)


def test_processors_are_restored_even_after_an_error(sd_model):
    unet = sd_model.pipe.unet
    before = {name: type(p) for name, p in unet.attn_processors.items()}
    state = RunState(BatchLayout(1, False), 1, (16, 16))
    with pytest.raises(RuntimeError, match="boom"):
        with story_processors(unet, sd_model.backbone.sites(), PlainPolicy(), state):
            raise RuntimeError("boom")
    assert {name: type(p) for name, p in unet.attn_processors.items()} == before


def test_layer_kinds_come_from_names(sd_model):
    sites = sd_model.backbone.sites()
    assert {site.stage for site in sites} == {"down", "mid", "up"}
    assert all((site.kind == "cross") == (".attn2." in site.name) for site in sites)
    assert sum(site.kind == "cross" for site in sites) == len(sites) // 2


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_vanilla_generate_equals_diffusers_pipeline(models, runs, kind):
    """Same latents, DDIM, steps and guidance: the stock pipeline __call__ and generate() agree."""
    model = models[kind]
    story = Story("a cat", ("on a beach", "in a city"))
    rec = runs.Recorder()
    ours = generate(model, story, "vanilla", sampling=runs.sampling(steps=3), callback=rec)
    latents = initial_latents(model, ours.seeds, runs.size, runs.size)
    theirs_latents = []

    def keep(pipe, i, t, kwargs):
        theirs_latents.append(kwargs["latents"].clone())
        return kwargs

    theirs = model.pipe(prompt=story.prompts, negative_prompt=[""] * 2, latents=latents.clone(),
                        num_inference_steps=3, guidance_scale=5.0, height=runs.size, width=runs.size,
                        output_type="pil", callback_on_step_end=keep)
    assert type(model.pipe.scheduler).__name__ == "DDIMScheduler"
    assert len(rec.latents) == len(theirs_latents) == 3
    for a, b in zip(rec.latents, theirs_latents):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    diff = abs(runs.pixels(ours.images) - runs.pixels(theirs.images)).max()
    assert diff == 0
