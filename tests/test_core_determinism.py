"""Seeds and same_latent do what they say (identical inputs, identical images: test_methods_determinism)."""
import torch

from svdstory import Story, generate
from svdstory.sampling import initial_latents


def test_a_different_seed_gives_different_images(sd_model, base_story, consistory_base, runs):
    full, _ = consistory_base
    two = base_story.with_scenes(base_story.scenes[:2])
    other = generate(sd_model, two, "consistory", runs.base_options, runs.sampling(runs.base_steps, seed=10))
    assert other.seeds == [10, 11]
    for a, b in zip(runs.pixels(other.images), runs.pixels(full.images[:2])):
        assert (a != b).mean() > 0.5


def test_initial_noise_is_per_seed_and_independent_of_the_batch(sd_model):
    batch = initial_latents(sd_model, [0, 1, 2], 32, 32)
    assert batch.shape == (3, 4, 16, 16)
    assert torch.equal(initial_latents(sd_model, [1, 2], 32, 32), batch[1:])
    assert not torch.equal(batch[0], batch[1])


def test_same_latent_gives_every_image_the_first_images_noise(sd_model, runs):
    same = initial_latents(sd_model, [4, 5, 6], 32, 32, same=True)
    assert all(torch.equal(same[i], same[0]) for i in range(3))
    assert torch.equal(same[0], initial_latents(sd_model, [4], 32, 32)[0])
    story = Story("a cat", ("on a beach", "on a beach"))
    shared = generate(sd_model, story, "vanilla", sampling=runs.sampling(2, same_latent=True))
    apart = generate(sd_model, story, "vanilla", sampling=runs.sampling(2))
    assert (runs.pixels(shared.images[:1]) == runs.pixels(shared.images[1:])).all()
    assert (runs.pixels(apart.images[:1]) != runs.pixels(apart.images[1:])).any()


def test_story_seeds_override_the_run_seed(sd_model, runs):
    rec = runs.Recorder()
    story = Story("a cat", ("on a beach", "in snow"), seeds=(7, 3))
    result = generate(sd_model, story, "vanilla", sampling=runs.sampling(1, seed=100), callback=rec)
    assert result.seeds == [7, 3]
    listed = generate(sd_model, Story("a cat", ("on a beach", "in snow")), "vanilla",
                      sampling=runs.sampling(1, seed=7))
    assert (runs.pixels(result.images[:1]) == runs.pixels(listed.images[:1])).all()
    assert (runs.pixels(result.images[1:]) != runs.pixels(listed.images[1:])).any()
