"""Same model, story, options and seeds give bit-identical images for every mask-free and prompt-side method."""
import pytest
import torch

from svdstory import generate

CASES = [
    ("svd", {"target": "kv", "zero": "rank:2"}),
    ("svd", {"target": "hidden", "zero": "rank:2"}),
    ("svd", {"target": "attn", "zero": "rank:2"}),
    ("storydiffusion", {}),
    ("1p1s", {"ipca": True}),
]


@pytest.mark.parametrize("method,options", CASES)
def test_same_inputs_give_identical_images(method_run, core, method, options):
    size = 16 if options.get("target") == "attn" else 32  # see test_methods_svd: the attn target's cost
    first, first_latents = method_run("sd", method, options, size=size)
    rec = core.Recorder()
    again = generate(method_run.model("sd"), method_run.story, method, options, method_run.sampling(size), callback=rec)
    assert torch.equal(rec.final, first_latents)
    assert (core.pixels(again.images) == core.pixels(first.images)).all()
    assert again.info["config"] == first.info["config"]
