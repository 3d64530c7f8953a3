"""ConsiStory end to end: each mechanism matters, all of them off is vanilla, several subjects work."""
import numpy as np
import pytest
import torch

from svdstory import Story, generate
from svdstory.errors import SvdStoryError


@pytest.mark.parametrize("switch", ["sdsa", "query_mix", "injection"])
def test_each_mechanism_changes_the_images(sd_model, base_story, consistory_base, runs, switch):
    full, full_rec = consistory_base
    rec = runs.Recorder()
    off = generate(sd_model, base_story, "consistory", {**runs.base_options, switch: False},
                   runs.sampling(runs.base_steps), callback=rec)
    assert (rec.final - full_rec.final).abs().max() > 1e-4  # runs are deterministic: any change is the switch
    assert (runs.pixels(off.images) != runs.pixels(full.images)).any()


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_all_mechanisms_off_is_vanilla_with_ddim_exactly(models, runs, kind):
    story = Story("a cat", ("on a beach", "in snow"))
    off = {"sdsa": False, "query_mix": False, "injection": False}
    cons_rec, van_rec = runs.Recorder(), runs.Recorder()
    cons = generate(models[kind], story, "consistory", off, runs.sampling(3), callback=cons_rec)
    van = generate(models[kind], story, "vanilla", {"scheduler": "ddim"}, runs.sampling(3), callback=van_rec)
    assert len(cons_rec.latents) == len(van_rec.latents) == 3
    assert all(torch.equal(a, b) for a, b in zip(cons_rec.latents, van_rec.latents))
    assert (runs.pixels(cons.images) == runs.pixels(van.images)).all()
    assert cons.masks is not None and van.masks is None  # maps are still captured, without changing the output


def test_anchors_do_not_see_the_extras(sd_model, consistory_base, runs):
    """Anchors attend to each other only: a different extra scene leaves them untouched."""
    _, full_rec = consistory_base
    rec = runs.Recorder()
    generate(sd_model, Story("a cat", ("on a beach", "in a city", "in a forest")), "consistory",
             runs.base_options, runs.sampling(runs.base_steps), callback=rec)
    assert torch.equal(rec.final[:2], full_rec.final[:2])
    assert not torch.allclose(rec.final[2], full_rec.final[2])


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_two_subjects_get_a_mask_each(models, runs, kind):
    story = Story("a cat and a dog", ("on a beach", "in snow"), tokens=("cat", "dog"))
    result = generate(models[kind], story, "consistory", runs.base_options, runs.sampling(4))
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


# Injection from step 2 of 5 (the default 10% starts at step 0 of 5, leaving nothing to reuse). The pre-pass
# stops after step 3 (t=201 is nearest 261); query mixing covers steps 1-2, so the takeover step mixes too.
LATE_INJECTION = {"injection_steps": (0.4, 0.8)}


@pytest.fixture(scope="module")
def counted(models, base_story, runs):
    """(result, final latents, UNet forward calls) of ConsiStory with late injection, memoised by options."""
    done = {}

    def run(kind, **options):
        key = (kind, tuple(sorted(options.items())))
        if key not in done:
            unet, calls, rec = models[kind].pipe.unet, [], runs.Recorder()
            handle = unet.register_forward_hook(lambda *_: calls.append(None))
            try:
                result = generate(models[kind], base_story, "consistory",
                                  {**runs.base_options, **LATE_INJECTION, **options}, runs.sampling(runs.base_steps),
                                  callback=rec)
            finally:
                handle.remove()
            done[key] = (result, rec.final, len(calls))
        return done[key]

    return run


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_reusing_the_prepass_changes_nothing_but_the_passes(counted, runs, kind):
    old, old_final, old_calls = counted(kind, reuse_prepass=False)
    new, new_final, new_calls = counted(kind)
    assert torch.equal(new_final, old_final)
    assert (runs.pixels(new.images) == runs.pixels(old.images)).all()
    assert all((np.asarray(a) == np.asarray(b)).all() for m, n in zip(new.masks, old.masks) for a, b in zip(m, n))
    # pre-pass: steps 0-3 and vanilla queries at steps 1-2 (6); main pass: 5 steps + 2 (7), or steps 2-4 + 1 (4)
    assert (old_calls, new_calls) == (13, 10)


def test_prepass_steps_gives_the_prepass_its_own_schedule(counted):
    _, off_final, off_calls = counted("sd", reuse_prepass=False)
    _, same_final, same_calls = counted("sd", prepass_steps=5)
    _, short_final, short_calls = counted("sd", prepass_steps=3)
    assert torch.equal(same_final, off_final) and same_calls == off_calls == 13  # the run's schedule, no reuse
    # t = 667, 334, 1: the pre-pass stops after 334, with vanilla queries at step 1 (3); the main pass runs 5 + 2
    assert short_calls == 10
    assert not torch.equal(short_final, off_final)  # DIFT features and masks from another schedule


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_vanilla_query_passes_reuse_the_down_and_mid_blocks_exactly(models, base_story, runs, monkeypatch, kind):
    """With SDSA in the decoder only, a vanilla-query pass and the SDSA pass of its step compute the down and
    mid blocks alike: the second pass takes the first one's outputs, and the images and masks stay the same,
    bit for bit (steps with injection in the encoder run both passes whole)."""
    from svdstory.methods.consistory.policy import SubjectPolicy

    unet = models[kind].pipe.unet

    def run():
        calls, rec = [], runs.Recorder()
        handle = unet.down_blocks[0].resnets[0].register_forward_pre_hook(lambda *_: calls.append(None))
        try:
            result = generate(models[kind], base_story, "consistory", runs.base_options,
                              runs.sampling(runs.base_steps), callback=rec)
        finally:
            handle.remove()
        return result, rec.final, len(calls)

    replayed, replayed_final, replayed_calls = run()
    monkeypatch.setattr(SubjectPolicy, "encoder_alike", lambda self, state: False)
    whole, whole_final, whole_calls = run()
    assert torch.equal(replayed_final, whole_final)
    assert all((np.asarray(a) == np.asarray(b)).all() for m, n in zip(replayed.masks, whole.masks) for a, b in zip(m, n))
    assert replayed_calls < whole_calls  # the down blocks ran once for some two-pass step


def test_packed_sharing_gives_the_images_of_grouped_sharing(sd_model, base_story, consistory_base, runs, monkeypatch):
    """On a GPU in half precision SDSA runs as one variable-length call over keys gathered by index
    (`Packed`); forced here on the CPU (per-row reference calls), the images are those of grouped calls."""
    import svdstory.methods.consistory.pattern as pattern

    _, grouped = consistory_base
    calls = []

    def always(q, chunk):
        calls.append(q.shape)
        return True

    monkeypatch.setattr(pattern, "packs", always)
    packed = runs.Recorder()
    generate(sd_model, base_story, "consistory", runs.base_options, runs.sampling(runs.base_steps), callback=packed)
    assert calls  # the packed route ran
    torch.testing.assert_close(packed.final, grouped.final, rtol=1e-4, atol=1e-4)


def test_maps_batched_over_layers_equal_maps_layer_by_layer(sd_model, base_story, runs, monkeypatch):
    """Cross-attention maps are held and computed for several layers in one product; computed one layer at
    a time (a batch limit of one score), the subject masks and the images are the same."""
    import svdstory.methods.consistory.maps as maps

    def run(limit):
        monkeypatch.setattr(maps, "MAP_BATCH_SCORES", limit)
        rec = runs.Recorder()
        result = generate(sd_model, base_story, "consistory", runs.base_options, runs.sampling(runs.base_steps),
                          callback=rec)
        return result, rec.final

    batched, batched_final = run(2**26)
    single, single_final = run(1)
    torch.testing.assert_close(single_final, batched_final, rtol=1e-4, atol=1e-4)
    assert all((np.asarray(a) == np.asarray(b)).all()
               for m, n in zip(single.masks, batched.masks) for a, b in zip(m, n))


@pytest.mark.parametrize("limit_layers,held", [(2, 1), (1, 0), (4, 3)])
def test_maps_of_a_group_with_masks_equal_the_mean_of_each_layers_maps(limit_layers, held):
    """Three cross-attention layers with additive masks, computed `limit_layers` at a time: the step's maps are
    the mean over layers of softmax(q k^T * scale + mask) summed over each subject's tokens, head-averaged."""
    from svdstory.attention.call import AttnCall
    from svdstory.backbones.unet import unet_site
    from svdstory.methods.consistory.maps import SubjectMaps, token_maps, token_selector
    from svdstory.state import BatchLayout

    n, H, T, L, d, grid = 2, 2, 16, 5, 8, (4, 4)
    positions = [[[1], [2, 3]]]  # one subject: token 1 in image 0, tokens 2 and 3 in image 1
    maps = SubjectMaps(positions, window=20, mask_factor=4, batch_scores=limit_layers * n * H * T * L)
    attn = type("Attn", (), {"scale": d ** -0.5})()
    layer = unet_site("down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor", levels=1, text_len=L)
    gen = torch.Generator().manual_seed(0)
    want = []
    for _ in range(3):
        q, k = torch.randn(2 * n, H, T, d, generator=gen), torch.randn(2 * n, H, L, d, generator=gen)
        mask = -4 * torch.rand(2 * n, H, 1, L, generator=gen)
        maps.record(AttnCall(layer, None, q, k, k, grid, q, mask, attn.scale), BatchLayout(n, True), grid)
        probs = ((q[n:] @ k[n:].transpose(-1, -2)) * attn.scale + mask[n:]).softmax(-1)
        want.append(token_maps(probs, token_selector(positions, n, L), grid))
    assert maps.held_layers() == held  # full groups were computed as they filled
    maps.end_step(grid)
    assert maps.held_layers() == 0
    torch.testing.assert_close(maps.average, torch.stack(want).mean(0))


def test_release_token_rule_makes_masks_from_the_first_sub_token(sd_model, runs):
    """A multi-token subject word: the release's rule reads one sub-token's maps, ours sums all of them."""
    story = Story("a dolphin", ("on a beach", "in a city", "in snow"))
    word = generate(sd_model, story, "consistory", runs.base_options, runs.sampling(runs.base_steps))
    release = generate(sd_model, story, "consistory", {**runs.base_options, "subject_tokens": "release"},
                       runs.sampling(runs.base_steps))
    masks = lambda r: np.stack([np.asarray(m[0]) for m in r.masks])
    assert (masks(word) != masks(release)).any()
    with pytest.raises(SvdStoryError, match="subject_tokens"):
        generate(sd_model, story, "consistory", {"subject_tokens": "last"}, runs.sampling(runs.base_steps))


def test_release_switch_equals_the_releases_slow_schedule(counted, runs):
    """`release=true` reproduces the release's run: the pre-pass to the end (masks from its last step), every
    main-pass step, the release's token rule. The reuse it keeps changes nothing; the defaults differ."""
    story = Story("a dolphin", ("on a beach", "in a city", "in snow"))  # a multi-token word on the tiny model

    def run(options):
        rec = runs.Recorder()
        result = generate(runs.model("sd"), story, "consistory", {**runs.base_options, **LATE_INJECTION, **options},
                          runs.sampling(runs.base_steps), callback=rec)
        return result, rec.final

    switch, switch_final = run({"release": True})
    slow, slow_final = run({"prepass": "full", "reuse_prepass": False, "subject_tokens": "release"})
    default, default_final = run({})
    assert switch.info["config"]["prepass"] == "full" and switch.info["config"]["subject_tokens"] == "release"
    assert torch.equal(switch_final, slow_final)
    masks = lambda r: np.stack([np.asarray(m[0]) for m in r.masks])
    assert (masks(switch) == masks(slow)).all()
    assert not torch.equal(switch_final, default_final) and (masks(switch) != masks(default)).any()
