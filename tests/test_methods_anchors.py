"""Anchors first, extras later, for the mask-free and prompt-side methods: the same images as one batch."""
import pytest
import torch

from svdstory import generate_anchors, generate_more

SHARING = [
    ("shared", {}),
    ("svd", {"target": "kv", "zero": "rank:2"}),
    ("svd", {"target": "hidden", "zero": "rank:2", "cache_device": "cpu"}),
    ("svd", {"target": "attn", "zero": "rank:2"}),
    ("svd", {"target": "kv", "zero": "rank:2", "anchor_pool": 2}),
    ("storydiffusion", {"n_anchors": 2}),
]


def size(options):
    return 16 if options.get("target") == "attn" else 32  # see test_methods_svd: the attn target's cost


def anchors_then_extra(method_run, core, method, options, story=None):
    story = story or method_run.story
    anchors_rec, extra_rec = core.Recorder(), core.Recorder()
    subject = generate_anchors(method_run.model("sd"), story.with_scenes(story.scenes[:2]), method, options,
                               method_run.sampling(size(options)), callback=anchors_rec)
    more = generate_more(subject, story.scenes[2:], callback=extra_rec)
    return subject, more, anchors_rec.final, extra_rec.final


@pytest.mark.parametrize("method,options", SHARING)
def test_anchors_then_extras_equal_the_batch(method_run, core, method, options):
    full, full_latents = method_run("sd", method, options, size=size(options))
    subject, more, anchors, extra = anchors_then_extra(method_run, core, method, options)
    # Equal up to float rounding: the UNet batch shrinks, and torch's CPU kernels depend on it (test_core_anchors).
    torch.testing.assert_close(anchors, full_latents[:2], rtol=0, atol=2e-4)
    torch.testing.assert_close(extra, full_latents[2:], rtol=0, atol=2e-4)
    assert abs(core.pixels(subject.anchors.images) - core.pixels(full.images[:2])).max() <= 1
    assert abs(core.pixels(more.images) - core.pixels(full.images[2:])).max() <= 1
    assert more.seeds == full.seeds[2:] and more.prompts == full.prompts[2:]
    _, alone = method_run("sd", "vanilla", {"scheduler": "ddim"}, size=size(options))
    assert (extra - alone[2:]).abs().amax() > 1e-2  # the extra did see the anchors
    keys = list(subject.cache.kv)
    assert len(keys) == len(set(keys)) > 0
    hidden = subject.cache.kv[keys[0]][2]
    assert (hidden is not None) == (options.get("target") == "hidden")  # only that target needs the inputs
    if options.get("cache_device") == "cpu":
        assert hidden.device.type == "cpu"


@pytest.mark.parametrize("ipca", [False, True])
def test_1p1s_anchors_are_the_batch_and_an_extra_joins_their_one_prompt(method_run, core, ipca):
    options = {"ipca": ipca}
    subject, more, anchors, extra = anchors_then_extra(method_run, core, "1p1s", options)
    two = method_run.story.with_scenes(method_run.story.scenes[:2])
    _, batch_anchors = method_run("sd", "1p1s", options, story=two)
    assert torch.equal(anchors, batch_anchors)
    # The extra's prompt is the anchors' one prompt plus its own scene, which is the whole story's one prompt:
    # its image is then the batch run's last image (1p1s shares nothing across images at run time).
    _, full_latents = method_run("sd", "1p1s", options)
    torch.testing.assert_close(extra, full_latents[2:], rtol=0, atol=2e-4)
    again = generate_more(subject, method_run.story.scenes[2:])
    assert (core.pixels(again.images) == core.pixels(more.images)).all()
    assert more.prompts == ["a cat in snow"] and subject.cache == {"scenes": ["on a beach", "in a city"]}
