"""`1p1s`: the one prompt, singular-value reweighting of its embeddings, and runs on the tiny models."""
from dataclasses import replace

import pytest
import torch

from svdstory import Story, SvdStoryError, generate
from svdstory.methods.configs import OnePromptConfig
from svdstory.methods.onepromptonestory.method import one_prompt_conditioning, subject_prompt
from svdstory.methods.onepromptonestory.svr import one_prompt, reweight_for_frame
from svdstory.tiny import tiny_tokenizer

SCENES = ["on a beach", "with a dolphin", "in snow"]  # "dolphin" is several tokens in the tiny vocabulary


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def padded_ids(tokenizer, text):
    return tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length).input_ids


def test_one_prompt_finds_each_frames_tokens(tokenizer):
    prompt = one_prompt(tokenizer, " a cat ", SCENES)
    assert prompt.text == "a cat, on a beach, with a dolphin, in snow"
    ids = padded_ids(tokenizer, prompt.text)
    for frame, scene in zip(prompt.frames, SCENES):
        assert frame == list(range(frame[0], frame[-1] + 1))
        assert tokenizer.decode([ids[p] for p in frame]).strip() == scene
        assert tokenizer.decode([ids[frame[0] - 1]]).strip() == ","  # the separator is no frame's
    assert len(prompt.frames[1]) > len("with a dolphin".split())
    assert tokenizer.decode(ids[1:prompt.frames[0][0] - 1]).strip() == "a cat"


def test_one_prompt_eot_positions_are_the_end_token_and_padding(tokenizer):
    prompt = one_prompt(tokenizer, "a cat", SCENES)
    ids = padded_ids(tokenizer, prompt.text)
    assert prompt.eot == list(range(prompt.frames[-1][-1] + 1, tokenizer.model_max_length))
    assert all(ids[p] == tokenizer.eos_token_id for p in prompt.eot)
    assert ids[prompt.eot[0] - 1] != tokenizer.eos_token_id


def test_a_story_that_fills_the_text_encoder_fits_and_one_word_more_fails(tokenizer):
    scenes = ["in snow"] * 5 + ["snow", "snow"]
    text = one_prompt(tokenizer, "a cat", scenes).text
    assert len(tokenizer(text).input_ids) == tokenizer.model_max_length  # with start and end tokens
    assert one_prompt(tokenizer, "a cat", scenes).eot == [tokenizer.model_max_length - 1]
    with pytest.raises(SvdStoryError, match="1p1s.*25 tokens.*24"):
        one_prompt(tokenizer, "a cat", scenes[:-1] + ["in snow"])


def test_a_story_too_long_for_one_prompt_fails_before_denoising(sd_model, runs):
    story = Story("a cat", tuple(["on a beach"] * 8))
    with pytest.raises(SvdStoryError, match="1p1s"):
        generate(sd_model, story, "1p1s", sampling=runs.sampling(runs.method_steps))


@pytest.fixture(scope="module")
def embeds_and_prompt(tokenizer):
    embeds = torch.randn(tokenizer.model_max_length, 32, generator=torch.Generator().manual_seed(0))
    return embeds, one_prompt(tokenizer, "a cat", SCENES)


def top(x):
    return torch.linalg.matrix_norm(x, ord=2).item()


def untouched_rows(prompt):
    touched = {p for rows in prompt.frames for p in rows} | set(prompt.eot)
    return [p for p in range(prompt.eot[-1] + 1) if p not in touched]


def test_identity_reweighting_changes_nothing(embeds_and_prompt):
    embeds, prompt = embeds_and_prompt
    for frame in range(len(SCENES)):
        out = reweight_for_frame(embeds, prompt, frame, (0.0, 1.0), (0.0, 1.0))
        torch.testing.assert_close(out, embeds, rtol=0, atol=1e-5)


@pytest.mark.parametrize("frame", [0, 1, 2])
def test_enhancement_grows_the_frames_top_singular_value(embeds_and_prompt, frame):
    embeds, prompt = embeds_and_prompt
    alpha = 0.05
    out = reweight_for_frame(embeds, prompt, frame, (alpha, 1.0), (0.0, 1.0))
    rows = prompt.frames[frame] + prompt.eot
    s = top(embeds[rows])
    assert top(out[rows]) == pytest.approx(torch.exp(torch.tensor(alpha * s)).item() * s, rel=1e-4)
    assert top(out[prompt.frames[frame]]) > top(embeds[prompt.frames[frame]])
    keep = untouched_rows(prompt)
    assert keep and torch.equal(out[keep], embeds[keep])  # start token, subject words, commas


@pytest.mark.parametrize("frame", [0, 1, 2])
def test_suppression_shrinks_the_other_frames(embeds_and_prompt, frame):
    embeds, prompt = embeds_and_prompt
    out = reweight_for_frame(embeds, prompt, frame, (0.0, 1.0), (-0.05, 0.5))
    for other, rows in enumerate(prompt.frames):
        if other == frame:  # only an identity reconstruction touched the frame's own words
            torch.testing.assert_close(out[rows], embeds[rows], rtol=0, atol=1e-5)
        else:  # rows * V diag(0.5 exp(-0.05 s)) V^T: every direction at most halved
            assert top(out[rows]) <= 0.5 * top(embeds[rows]) + 1e-5
    first = next(o for o in range(len(SCENES)) if o != frame)  # its block is reweighted before EOT moves again
    s = top(embeds[prompt.frames[first] + prompt.eot])
    expected = 0.5 * torch.exp(torch.tensor(-0.05 * s)).item() * s
    assert top(out[prompt.frames[first] + prompt.eot]) <= expected * (1 + 1e-4)


def test_conditioning_gives_each_frame_its_reweighted_prompt(sd_model):
    story = Story("a cat", tuple(SCENES))
    config = OnePromptConfig()
    cond = one_prompt_conditioning(sd_model, story, 5.0, config)
    assert subject_prompt(story) == "a cat" and cond.layout.n_images == 3 and cond.layout.cfg
    uncond, rows = cond.layout.split(cond.embeds)  # (n, L, D) each
    assert all(torch.equal(uncond[0], u) for u in uncond)  # the unconditional prompt is not reweighted
    prompt = one_prompt(sd_model.pipe.tokenizer, subject_prompt(story), SCENES)
    plain = one_prompt_conditioning(sd_model, story, 5.0, OnePromptConfig(enhance_alpha=0.0, suppress_alpha=0.0,
                                                                           suppress_beta=1.0))
    one = plain.layout.cond(plain.embeds)[0]  # the one prompt, unweighted
    for j in range(3):
        expected = reweight_for_frame(one, prompt, j, (config.enhance_alpha, config.enhance_beta),
                                      (config.suppress_alpha, config.suppress_beta))
        torch.testing.assert_close(rows[j], expected, rtol=0, atol=1e-5)
    assert not torch.allclose(rows[0], rows[1], atol=1e-3)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_runs_with_and_without_identity_cross_attention(runs, kind):
    plain, plain_latents = runs(kind, "1p1s")
    ipca, ipca_latents = runs(kind, "1p1s", {"ipca": True})
    _, vanilla = runs(kind, "vanilla")
    for result, latents in ((plain, plain_latents), (ipca, ipca_latents)):
        assert torch.isfinite(latents).all() and runs.pixels(result.images).std() > 0
        assert (latents - vanilla).abs().amax() > 1e-2  # the one prompt is not the per-scene prompts
        assert result.prompts == ["a cat on a beach", "a cat in a city", "a cat in snow"]
    assert (ipca_latents - plain_latents).abs().amax() > 1e-3


def test_identity_cross_attention_without_guidance(sd_model, runs):
    rec = runs.Recorder()
    generate(sd_model, Story("a cat", ("on a beach", "in snow")), "1p1s", {"ipca": True},
             replace(runs.sampling(runs.method_steps), guidance=1.0), callback=rec)
    assert rec.latents[-1].shape[0] == 2 and torch.isfinite(rec.final).all()
