"""Same model, story, options and seeds give bit-identical images, every method."""
import pytest
import torch
from cases import METHODS, size, steps

from svdstory import generate


@pytest.mark.parametrize("method,options", METHODS)
def test_same_inputs_give_identical_images(runs, method, options):
    first, first_rec = runs.recorded("sd", method, options, size=size(options), steps=steps(method))
    rec = runs.Recorder()
    again = generate(runs.model("sd"), runs.story, method, options, runs.sampling(steps(method), size=size(options)),
                     callback=rec)
    assert all(torch.equal(a, b) for a, b in zip(rec.latents, first_rec.latents))
    assert (runs.pixels(again.images) == runs.pixels(first.images)).all()
    if first.masks is not None:
        assert all((runs.pixels(a) == runs.pixels(b)).all() for a, b in zip(again.masks, first.masks))
    assert again.info["config"] == first.info["config"]
