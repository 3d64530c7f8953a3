"""Same model, story, config and seeds give the same images; seeds and same_latent do what they say."""
import torch

from svdstory import Story, generate
from svdstory.sampling import initial_latents


def test_same_inputs_give_identical_images(sd_model, base_story, consistory_base, core):
    full, full_rec = consistory_base
    rec = core.Recorder()
    again = generate(sd_model, base_story, "consistory", core.base_options, core.sampling(core.base_steps),
                     callback=rec)
    assert all(torch.equal(a, b) for a, b in zip(rec.latents, full_rec.latents))
    assert (core.pixels(again.images) == core.pixels(full.images)).all()
    assert all((core.pixels(a) == core.pixels(b)).all() for a, b in zip(again.masks, full.masks))


def test_a_different_seed_gives_different_images(sd_model, base_story, consistory_base, core):
    full, _ = consistory_base
    two = base_story.with_scenes(base_story.scenes[:2])
    other = generate(sd_model, two, "consistory", core.base_options, core.sampling(core.base_steps, seed=10))
    assert other.seeds == [10, 11]
    for a, b in zip(core.pixels(other.images), core.pixels(full.images[:2])):
        assert (a != b).mean() > 0.5


def test_initial_noise_is_per_seed_and_independent_of_the_batch(sd_model):
    batch = initial_latents(sd_model, [0, 1, 2], 32, 32)
    assert batch.shape == (3, 4, 16, 16)
    assert torch.equal(initial_latents(sd_model, [1, 2], 32, 32), batch[1:])
    assert not torch.equal(batch[0], batch[1])


def test_same_latent_gives_every_image_the_first_images_noise(sd_model, core):
    same = initial_latents(sd_model, [4, 5, 6], 32, 32, same=True)
    assert all(torch.equal(same[i], same[0]) for i in range(3))
    assert torch.equal(same[0], initial_latents(sd_model, [4], 32, 32)[0])
    story = Story("a cat", ("on a beach", "on a beach"))
    shared = generate(sd_model, story, "vanilla", sampling=core.sampling(2, same_latent=True))
    apart = generate(sd_model, story, "vanilla", sampling=core.sampling(2))
    assert (core.pixels(shared.images[:1]) == core.pixels(shared.images[1:])).all()
    assert (core.pixels(apart.images[:1]) != core.pixels(apart.images[1:])).any()


def test_story_seeds_override_the_run_seed(sd_model, core):
    rec = core.Recorder()
    story = Story("a cat", ("on a beach", "in snow"), seeds=(7, 3))
    result = generate(sd_model, story, "vanilla", sampling=core.sampling(1, seed=100), callback=rec)
    assert result.seeds == [7, 3]
    listed = generate(sd_model, Story("a cat", ("on a beach", "in snow")), "vanilla",
                      sampling=core.sampling(1, seed=7))
    assert (core.pixels(result.images[:1]) == core.pixels(listed.images[:1])).all()
    assert (core.pixels(result.images[1:]) != core.pixels(listed.images[1:])).any()
