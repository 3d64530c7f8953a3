"""Fidelity to the ConsiStory release and to diffusers' stock pipelines: empty negative prompts, FreeU."""
import numpy as np
import pytest
import torch

from svdstory import Story, generate, load_model
from svdstory.sampling import initial_latents

RELEASE_FREEU = (0.6, 0.4, 1.1, 1.2)  # the release's SDXL setting: s1, s2, b1, b2


@pytest.fixture(scope="module")
def sdxl_zeros():
    """A tiny SDXL whose config asks for zero unconditional embeddings when no negative prompt is given,
    as SDXL base's does."""
    model = load_model("tiny-sdxl", device="cpu")
    model.pipe.set_progress_bar_config(disable=True)
    model.pipe.register_to_config(force_zeros_for_empty_prompt=True)
    return model


def _stock(model, story, core, seeds, **kwargs):
    latents = initial_latents(model, seeds, core.size, core.size)
    out = model.pipe(prompt=story.prompts, latents=latents, num_inference_steps=3, guidance_scale=5.0,
                     height=core.size, width=core.size, output_type="pil", **kwargs)
    return core.pixels(out.images)


def test_no_negative_prompt_follows_the_pipeline_and_sdxl_gets_zero_embeddings(sdxl_zeros, core):
    story = Story("a cat", ("on a beach", "in a city"))
    ours = generate(sdxl_zeros, story, "vanilla", sampling=core.sampling(steps=3))
    stock = _stock(sdxl_zeros, story, core, ours.seeds)  # no negative prompt: zeros
    assert abs(core.pixels(ours.images) - stock).max() == 0
    empty = generate(sdxl_zeros, story, "vanilla", sampling=core.sampling(steps=3, negative_prompt=""))
    stock_empty = _stock(sdxl_zeros, story, core, ours.seeds, negative_prompt=[""] * 2)
    assert abs(core.pixels(empty.images) - stock_empty).max() == 0
    assert abs(core.pixels(empty.images) - stock).max() > 0  # the flag changes the images: the test can tell


def test_a_negative_prompt_is_passed_to_the_pipeline(models, core):
    story = Story("a cat", ("on a beach", "in a city"))
    ours = generate(models["sd"], story, "vanilla", sampling=core.sampling(steps=3, negative_prompt="snow"))
    stock = _stock(models["sd"], story, core, ours.seeds, negative_prompt=["snow"] * 2)
    assert abs(core.pixels(ours.images) - stock).max() == 0
    plain = generate(models["sd"], story, "vanilla", sampling=core.sampling(steps=3))
    assert abs(core.pixels(plain.images) - stock).max() > 0


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_freeu_matches_the_stock_pipeline_and_is_switched_off_after_the_run(models, core, kind):
    model, story = models[kind], Story("a cat", ("on a beach", "in a city"))
    before = generate(model, story, "vanilla", sampling=core.sampling(steps=3))
    with_freeu = generate(model, story, "vanilla", sampling=core.sampling(steps=3, freeu=RELEASE_FREEU))
    assert with_freeu.info["sampling"]["freeu"] == RELEASE_FREEU
    model.pipe.enable_freeu(*RELEASE_FREEU)
    try:
        stock = _stock(model, story, core, before.seeds, negative_prompt=[""] * 2)
    finally:
        model.pipe.disable_freeu()
    assert abs(core.pixels(with_freeu.images) - stock).max() == 0
    assert abs(core.pixels(with_freeu.images) - core.pixels(before.images)).max() > 0
    after = generate(model, story, "vanilla", sampling=core.sampling(steps=3))
    assert abs(core.pixels(after.images) - core.pixels(before.images)).max() == 0


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_encoder_replay_equals_running_both_passes_with_freeu(models, base_story, core, monkeypatch, kind):
    """FreeU scales the mid block's output in place inside the first up block: the replayed pass must not
    see it scaled by the recording pass."""
    from svdstory.attention.subject_policy import SubjectPolicy

    sampling = core.sampling(core.base_steps, freeu=RELEASE_FREEU)

    def run():
        rec = core.Recorder()
        generate(models[kind], base_story, "consistory", core.base_options, sampling, callback=rec)
        return rec.final

    replayed = run()
    monkeypatch.setattr(SubjectPolicy, "encoder_alike", lambda self, state: False)
    assert torch.equal(replayed, run())
