"""Anchors first, extras later: the same images as generating the whole story in one batch."""
import pytest
import torch

from svdstory import SvdStoryError, generate_anchors, generate_more


@pytest.mark.parametrize("cache_device", ["same", "cpu"])
def test_anchors_then_extras_equal_the_all_at_once_run(sd_model, base_story, consistory_base, core, cache_device):
    full, full_rec = consistory_base
    options = {**core.base_options, "cache_device": cache_device}
    anchors_rec, extra_rec = core.Recorder(), core.Recorder()
    subject = generate_anchors(sd_model, base_story.with_scenes(base_story.scenes[:2]), "consistory", options,
                               core.sampling(core.base_steps), callback=anchors_rec)
    assert subject.cache.kv and subject.cache.out and subject.cache.features is not None
    assert subject.cache.nbytes() > 0
    more = generate_more(subject, base_story.scenes[2:], callback=extra_rec)

    # Equal up to float rounding, not bit for bit: the UNet batch shrinks (6 -> 4 for the anchors, 2 for
    # the extra) and torch's CPU GEMMs pick batch- and thread-dependent kernels (already the stock UNet's
    # time-embedding Linear differs at 1e-7 between batch 2 and 6).
    torch.testing.assert_close(anchors_rec.final, full_rec.final[:2], rtol=0, atol=2e-4)
    torch.testing.assert_close(extra_rec.final, full_rec.final[2:], rtol=0, atol=2e-4)
    assert abs(core.pixels(subject.anchors.images) - core.pixels(full.images[:2])).max() <= 1
    assert abs(core.pixels(more.images) - core.pixels(full.images[2:])).max() <= 1
    assert more.seeds == full.seeds[2:] and more.prompts == full.prompts[2:]
    assert len(more.masks) == 1 and len(more.masks[0]) == 1


def test_extras_get_their_own_seeds_and_scenes(sd_model, base_story, core):
    subject = generate_anchors(sd_model, base_story.with_scenes(base_story.scenes[:1]), "consistory",
                               {"injection": False}, core.sampling(2, seed=10))
    more = generate_more(subject, ["in a forest", "at night"])
    assert more.seeds == [11, 12] and more.prompts == ["a cat in a forest", "a cat at night"]
    assert list(more.info["story"]["scenes"]) == ["in a forest", "at night"]
    again = generate_more(subject, "in a forest", seeds=[11])
    assert (core.pixels(again.images) == core.pixels(more.images[:1])).all()


def test_anchors_mode_needs_a_method_that_has_it(sd_model, base_story, monkeypatch):
    from svdstory.methods import registry

    method = registry.get_method("vanilla")
    monkeypatch.setitem(registry._METHODS, "no-anchors", registry.Method("no-anchors", method.config, method.run))
    with pytest.raises(SvdStoryError, match="no-anchors"):
        generate_anchors(sd_model, base_story, "no-anchors")


def test_anchors_and_extras_reuse_the_prepass_exactly(sd_model, base_story, core):
    """Injection from step 2: the main passes start from their pre-passes there and give the same latents."""
    from svdstory.state import Stage

    finals = {}
    for reuse in (False, True):
        options = {**core.base_options, "injection_steps": (0.4, 0.8), "reuse_prepass": reuse}
        anchors_rec, extra_rec = core.Recorder(), core.Recorder()
        subject = generate_anchors(sd_model, base_story.with_scenes(base_story.scenes[:2]), "consistory", options,
                                   core.sampling(core.base_steps), callback=anchors_rec)
        main_steps = {step for stage, _, step in subject.cache.kv if stage is Stage.MAIN}
        assert min(main_steps) == (2 if reuse else 1)  # step 0 has no masks yet, hence no shared keys
        generate_more(subject, base_story.scenes[2:], callback=extra_rec)
        finals[reuse] = (anchors_rec.final, extra_rec.final)
    assert torch.equal(finals[True][0], finals[False][0]) and torch.equal(finals[True][1], finals[False][1])
