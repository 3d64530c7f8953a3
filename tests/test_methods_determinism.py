"""Same model, story, options and seeds give bit-identical images, every method on every backbone it runs on."""
import pytest
import torch
from cases import METHODS, on_models, size, steps

from svdstory import generate


@pytest.mark.parametrize("kind,method,options", on_models(METHODS))
def test_same_inputs_give_identical_images(runs, kind, method, options):
    first, first_rec = runs.recorded(kind, method, options, size=size(options), steps=steps(method))
    rec = runs.Recorder()
    again = generate(runs.model(kind), runs.story, method, options, runs.sampling(steps(method), size=size(options)),
                     callback=rec)
    assert all(torch.equal(a, b) for a, b in zip(rec.latents, first_rec.latents))
    assert (runs.pixels(again.images) == runs.pixels(first.images)).all()
    if first.masks is not None:
        assert all((runs.pixels(a) == runs.pixels(b)).all() for a, b in zip(again.masks, first.masks))
    assert again.info["config"] == first.info["config"]
