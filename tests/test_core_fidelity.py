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


def _stock(model, story, runs, seeds, **kwargs):
    latents = initial_latents(model, seeds, runs.size, runs.size)
    out = model.pipe(prompt=story.prompts, latents=latents, num_inference_steps=3, guidance_scale=5.0,
                     height=runs.size, width=runs.size, output_type="pil", **kwargs)
    return runs.pixels(out.images)


def test_no_negative_prompt_follows_the_pipeline_and_sdxl_gets_zero_embeddings(sdxl_zeros, runs):
    story = Story("a cat", ("on a beach", "in a city"))
    ours = generate(sdxl_zeros, story, "vanilla", sampling=runs.sampling(steps=3))
    stock = _stock(sdxl_zeros, story, runs, ours.seeds)  # no negative prompt: zeros
    assert abs(runs.pixels(ours.images) - stock).max() == 0
    empty = generate(sdxl_zeros, story, "vanilla", sampling=runs.sampling(steps=3, negative_prompt=""))
    stock_empty = _stock(sdxl_zeros, story, runs, ours.seeds, negative_prompt=[""] * 2)
    assert abs(runs.pixels(empty.images) - stock_empty).max() == 0
    assert abs(runs.pixels(empty.images) - stock).max() > 0  # the flag changes the images: the test can tell


def test_a_negative_prompt_is_passed_to_the_pipeline(models, runs):
    story = Story("a cat", ("on a beach", "in a city"))
    ours = generate(models["sd"], story, "vanilla", sampling=runs.sampling(steps=3, negative_prompt="snow"))
    stock = _stock(models["sd"], story, runs, ours.seeds, negative_prompt=["snow"] * 2)
    assert abs(runs.pixels(ours.images) - stock).max() == 0
    plain = generate(models["sd"], story, "vanilla", sampling=runs.sampling(steps=3))
    assert abs(runs.pixels(plain.images) - stock).max() > 0


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_freeu_matches_the_stock_pipeline_and_is_switched_off_after_the_run(models, runs, kind):
    model, story = models[kind], Story("a cat", ("on a beach", "in a city"))
    before = generate(model, story, "vanilla", sampling=runs.sampling(steps=3))
    with_freeu = generate(model, story, "vanilla", sampling=runs.sampling(steps=3, freeu=RELEASE_FREEU))
    assert with_freeu.info["sampling"]["freeu"] == RELEASE_FREEU
    model.pipe.enable_freeu(*RELEASE_FREEU)
    try:
        stock = _stock(model, story, runs, before.seeds, negative_prompt=[""] * 2)
    finally:
        model.pipe.disable_freeu()
    assert abs(runs.pixels(with_freeu.images) - stock).max() == 0
    assert abs(runs.pixels(with_freeu.images) - runs.pixels(before.images)).max() > 0
    after = generate(model, story, "vanilla", sampling=runs.sampling(steps=3))
    assert abs(runs.pixels(after.images) - runs.pixels(before.images)).max() == 0


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_encoder_replay_equals_running_both_passes_with_freeu(models, base_story, runs, monkeypatch, kind):
    """FreeU scales the mid block's output in place inside the first up block: the replayed pass must not
    see it scaled by the recording pass."""
    from svdstory.methods.consistory.policy import SubjectPolicy

    sampling = runs.sampling(runs.base_steps, freeu=RELEASE_FREEU)

    def run():
        rec = runs.Recorder()
        generate(models[kind], base_story, "consistory", runs.base_options, sampling, callback=rec)
        return rec.final

    replayed = run()
    monkeypatch.setattr(SubjectPolicy, "encoder_alike", lambda self, state: False)
    assert torch.equal(replayed, run())


def test_dift_features_carry_freeus_scaling_as_the_release_reads_them(sdxl_model, runs):
    """The release keeps the DIFT up block's output without a copy; the next up block's FreeU then scales the
    first half of its channels in place, so the features it correlates carry that scaling. Oracle: a hook
    that keeps the uncopied output of the first call at the DIFT timestep (the pre-pass's sampling pass)."""
    from svdstory import generate_anchors

    unet, story = sdxl_model.pipe.unet, Story("a cat", ("on a beach", "in a city"))
    sampling = runs.sampling(runs.base_steps, freeu=RELEASE_FREEU)
    timestep, kept = {}, {}
    dift_t = min(range(1, 1000, 1000 // runs.base_steps), key=lambda t: abs(t - 261))  # DDIM "leading"

    def note_timestep(_module, args, kwargs):
        timestep["t"] = int(args[1] if len(args) > 1 else kwargs["timestep"])

    def keep_uncopied(_module, _inputs, output):
        if timestep["t"] == dift_t and "release" not in kept:
            kept["release"] = output  # no copy: as the release's latent store holds it

    handles = [unet.register_forward_pre_hook(note_timestep, with_kwargs=True),
               unet.up_blocks[0].register_forward_hook(keep_uncopied)]
    try:
        subject = generate_anchors(sdxl_model, story, "consistory", runs.base_options, sampling)
    finally:
        for handle in handles:
            handle.remove()
    release = kept["release"][len(story.scenes):]  # the conditional half, as the release takes it
    assert torch.equal(subject.cache.features, release)
