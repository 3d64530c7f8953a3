"""Anchors first, extras later: the same images as generating the whole story in one batch, every method on
every backbone it runs on."""
import pytest
import torch
from cases import SHARING, on_models, size, steps, vanilla_options

from svdstory import generate_more


@pytest.mark.parametrize("kind,method,options", on_models(SHARING))
def test_anchors_then_extras_equal_the_batch(runs, kind, method, options):
    full, full_rec = runs.recorded(kind, method, options, size=size(options), steps=steps(method))
    subject, more, anchors, extra = runs.anchors_then_extras(method, options, steps(method), size(options), kind=kind)
    # Equal up to float rounding, not bit for bit: the UNet batch shrinks (6 -> 4 for the anchors, 2 for
    # the extra) and torch's CPU GEMMs pick batch- and thread-dependent kernels (already the stock UNet's
    # time-embedding Linear differs at 1e-7 between batch 2 and 6).
    torch.testing.assert_close(anchors, full_rec.final[:2], rtol=0, atol=2e-4)
    torch.testing.assert_close(extra, full_rec.final[2:], rtol=0, atol=2e-4)
    assert abs(runs.pixels(subject.anchors.images) - runs.pixels(full.images[:2])).max() <= 1
    assert abs(runs.pixels(more.images) - runs.pixels(full.images[2:])).max() <= 1
    assert more.seeds == full.seeds[2:] and more.prompts == full.prompts[2:]
    _, alone = runs(kind, "vanilla", vanilla_options(kind), size=size(options), steps=steps(method))
    assert (extra - alone[2:]).abs().amax() > 1e-2  # the extra did see the anchors
    keys = list(subject.cache.kv)
    assert len(keys) == len(set(keys)) > 0 and subject.cache.nbytes() > 0
    assert (more.masks is None) == (full.masks is None)


@pytest.mark.parametrize("kind,method,options", on_models([case for case in SHARING if case.values[0] != "consistory"]))
def test_the_cache_holds_the_anchors_inputs_only_for_the_hidden_target(runs, kind, method, options):
    subject = runs.anchors_then_extras(method, options, steps(method), size(options), kind=kind)[0]
    hidden = next(iter(subject.cache.kv.values()))[2]
    assert (hidden is not None) == (options.get("target") == "hidden")  # only that target needs the inputs
    if options.get("cache_device") == "cpu":
        assert hidden.device.type == "cpu"


@pytest.mark.parametrize("kind,ipca", [("sd", False), ("sd", True), ("flux", False), ("sd3", False)])
def test_1p1s_anchors_are_the_batch_and_an_extra_joins_their_one_prompt(runs, kind, ipca):
    options = {"ipca": ipca}
    subject, more, anchors, extra = runs.anchors_then_extras("1p1s", options, steps("1p1s"), kind=kind)
    two = runs.story.with_scenes(runs.story.scenes[:2])
    _, batch_anchors = runs(kind, "1p1s", options, story=two)
    assert torch.equal(anchors, batch_anchors)
    # The extra's prompt is the anchors' one prompt plus its own scene, which is the whole story's one prompt:
    # its image is then the batch run's last image (1p1s shares nothing across images at run time).
    _, full_latents = runs(kind, "1p1s", options)
    torch.testing.assert_close(extra, full_latents[2:], rtol=0, atol=2e-4)
    again = generate_more(subject, runs.story.scenes[2:])
    assert (runs.pixels(again.images) == runs.pixels(more.images)).all()
    assert more.prompts == ["a cat in snow"] and subject.cache == {"scenes": ["on a beach", "in a city"]}
