"""ConsiStory end to end: each mechanism matters, all of them off is vanilla, several subjects work."""
import numpy as np
import pytest
import torch

from svdstory import Story, generate


@pytest.mark.parametrize("switch", ["sdsa", "query_mix", "injection"])
def test_each_mechanism_changes_the_images(sd_model, base_story, consistory_base, core, switch):
    full, full_rec = consistory_base
    rec = core.Recorder()
    off = generate(sd_model, base_story, "consistory", {**core.base_options, switch: False},
                   core.sampling(core.base_steps), callback=rec)
    assert (rec.final - full_rec.final).abs().max() > 1e-4  # runs are deterministic: any change is the switch
    assert (core.pixels(off.images) != core.pixels(full.images)).any()


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_all_mechanisms_off_is_vanilla_with_ddim_exactly(models, core, kind):
    story = Story("a cat", ("on a beach", "in snow"))
    off = {"sdsa": False, "query_mix": False, "injection": False}
    cons_rec, van_rec = core.Recorder(), core.Recorder()
    cons = generate(models[kind], story, "consistory", off, core.sampling(3), callback=cons_rec)
    van = generate(models[kind], story, "vanilla", {"scheduler": "ddim"}, core.sampling(3), callback=van_rec)
    assert len(cons_rec.latents) == len(van_rec.latents) == 3
    assert all(torch.equal(a, b) for a, b in zip(cons_rec.latents, van_rec.latents))
    assert (core.pixels(cons.images) == core.pixels(van.images)).all()
    assert cons.masks is not None and van.masks is None  # maps are still captured, without changing the output


def test_anchors_do_not_see_the_extras(sd_model, consistory_base, core):
    """Anchors attend to each other only: a different extra scene leaves them untouched."""
    _, full_rec = consistory_base
    rec = core.Recorder()
    generate(sd_model, Story("a cat", ("on a beach", "in a city", "in a forest")), "consistory",
             core.base_options, core.sampling(core.base_steps), callback=rec)
    assert torch.equal(rec.final[:2], full_rec.final[:2])
    assert not torch.allclose(rec.final[2], full_rec.final[2])


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_two_subjects_get_a_mask_each(models, core, kind):
    story = Story("a cat and a dog", ("on a beach", "in snow"), tokens=("cat", "dog"))
    result = generate(models[kind], story, "consistory", core.base_options, core.sampling(4))
    assert len(result.images) == 2 and len(result.masks) == 2
    for per_image in result.masks:
        assert len(per_image) == 2
        for mask in per_image:
            values = np.asarray(mask)
            assert mask.mode == "L" and mask.size == result.images[0].size
            assert set(np.unique(values)) <= {0, 255}
            assert 0 < values.mean() < 255  # Otsu splits every non-constant map into two parts
    assert any((np.asarray(a) != np.asarray(b)).any() for a, b in result.masks)  # subjects come from their own tokens
    assert result.info["story"]["tokens"] == ("cat", "dog")
