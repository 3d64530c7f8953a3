"""ConsiStory's anchors and extras: what its cache holds, the extras' seeds and scenes, the pre-pass reused
(the same images as one batch, every method: test_methods_anchors)."""
import pytest
import torch

from svdstory import SvdStoryError, generate_anchors, generate_more


def test_consistory_cache_holds_shared_tokens_injection_sources_and_features(runs):
    subject, more = runs.anchors_then_extras("consistory", runs.base_options, runs.base_steps)[:2]
    assert subject.cache.kv and subject.cache.out and subject.cache.features is not None
    assert len(more.masks) == 1 and len(more.masks[0]) == 1


def test_extras_get_their_own_seeds_and_scenes(sd_model, base_story, runs):
    subject = generate_anchors(sd_model, base_story.with_scenes(base_story.scenes[:1]), "consistory",
                               {"injection": False}, runs.sampling(2, seed=10))
    more = generate_more(subject, ["in a forest", "at night"])
    assert more.seeds == [11, 12] and more.prompts == ["a cat in a forest", "a cat at night"]
    assert list(more.info["story"]["scenes"]) == ["in a forest", "at night"]
    again = generate_more(subject, "in a forest", seeds=[11])
    assert (runs.pixels(again.images) == runs.pixels(more.images[:1])).all()


def test_anchors_mode_needs_a_method_that_has_it(sd_model, base_story):
    from svdstory.methods import registry

    method = registry.get_method("vanilla")
    registry.register(registry.Method("no-anchors", method.config, method.run))
    try:
        with pytest.raises(SvdStoryError, match="no-anchors"):
            generate_anchors(sd_model, base_story, "no-anchors")
    finally:
        registry.unregister("no-anchors")


def test_anchors_and_extras_reuse_the_prepass_exactly(sd_model, base_story, runs):
    """Injection from step 2: the main passes start from their pre-passes there and give the same latents."""
    from svdstory.methods.consistory.policy import Stage

    finals = {}
    for reuse in (False, True):
        options = {**runs.base_options, "injection_steps": (0.4, 0.8), "reuse_prepass": reuse}
        anchors_rec, extra_rec = runs.Recorder(), runs.Recorder()
        subject = generate_anchors(sd_model, base_story.with_scenes(base_story.scenes[:2]), "consistory", options,
                                   runs.sampling(runs.base_steps), callback=anchors_rec)
        main_steps = {step for stage, _, step in subject.cache.kv if stage is Stage.MAIN}
        assert min(main_steps) == (2 if reuse else 1)  # step 0 has no masks yet, hence no shared keys
        generate_more(subject, base_story.scenes[2:], callback=extra_rec)
        finals[reuse] = (anchors_rec.final, extra_rec.final)
    assert torch.equal(finals[True][0], finals[False][0]) and torch.equal(finals[True][1], finals[False][1])
