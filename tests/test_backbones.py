"""The backbone seam: what a backbone reports about its attention sites matches what its network does."""
import pytest
import torch

from svdstory import Story, generate
from svdstory.attention.policy import PlainPolicy
from svdstory.backbones import guided
from svdstory.generate import build_context
from svdstory.resolve import method_config
from svdstory.state import BatchLayout


class GridRecorder(PlainPolicy):
    """Plain attention that notes each layer's query grid and key count, by processor name."""

    def __init__(self):
        self.seen = {}

    def self_attention(self, call, state):
        self.seen[call.layer.name] = (call.grid, call.key.shape[2])
        return super().self_attention(call, state)

    def cross_attention(self, call, state):
        self.seen[call.layer.name] = (call.grid, call.key.shape[2])
        return super().cross_attention(call, state)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
@pytest.mark.parametrize("size", [32, 24])
def test_unet_sites_name_every_layer_with_its_kind_grid_and_text_length(models, runs, kind, size):
    model = models[kind]
    method, config = method_config("vanilla")
    ctx = build_context(model, Story("a cat", ("on a beach",)), runs.sampling(steps=1, size=size), method, config)
    recorder = GridRecorder()
    ctx.denoise(recorder)
    sites = model.backbone.sites()
    assert sorted(site.name for site in sites) == sorted(recorder.seen)
    latent_hw = tuple(ctx.latents.shape[-2:])
    for site in sites:
        grid, keys = recorder.seen[site.name]
        assert site.grid(latent_hw) == grid, site.name
        assert site.kind == ("cross" if ".attn2." in site.name else "self")
        assert keys == (site.text_len if site.kind == "cross" else grid[0] * grid[1]), site.name
        assert site.stage in model.backbone.parts


def test_guidance_combines_the_halves_only_when_the_batch_has_them():
    noise = torch.arange(4.0).view(4, 1)
    assert torch.equal(guided(noise, BatchLayout(2, True), 3.0), torch.tensor([[6.0], [7.0]]))  # 0 + 3 * (2 - 0)
    assert torch.equal(guided(noise, BatchLayout(4, False), 3.0), noise)


def test_the_sampler_reaches_the_network_only_through_the_backbone(sd_model, runs, monkeypatch):
    """Every prediction of a run is the backbone's: replacing it changes the images."""
    story = Story("a cat", ("on a beach",))
    plain = generate(sd_model, story, "vanilla", sampling=runs.sampling(steps=2))
    backbone = sd_model.backbone
    original = backbone.predict
    monkeypatch.setattr(backbone, "predict", lambda *args: original(*args) * 0.0)
    zeroed = generate(sd_model, story, "vanilla", sampling=runs.sampling(steps=2))
    assert abs(runs.pixels(zeroed.images) - runs.pixels(plain.images)).max() > 0
