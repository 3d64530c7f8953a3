"""The web UI's form: what it builds, and which field each bad value is shown next to, with the CLI's message."""
import pytest

pytest.importorskip("gradio")

from svdstory.cli import main  # noqa: E402
from svdstory.ui.form import Form, build, overrides, problems, scene_rows, story  # noqa: E402
from svdstory.ui.words import in_page_words  # noqa: E402

SCENES = (("on a beach", None), ("in a city", None))


def form(**changes) -> Form:
    base = dict(subject="a cat", scenes=SCENES, method="svd", steps=2, guidance=5.0, height=32, width=32)
    return Form(**{**base, **changes})


def test_blank_rows_are_empty_scenes_and_blank_seeds_follow_the_base_seed():
    assert scene_rows([["in snow", None], ["", 3], [None, None], ["  at night ", "7"]]) == [
        ("in snow", None), ("", 3), ("", None), ("at night", "7")]
    assert story(form(seed=5)).image_seeds(5) == [5, 6]
    assert story(form(seed=5)).seeds == ()
    assert story(form(seed=5, scenes=(("on a beach", None), ("in a city", 9.0)))).seeds == (5, 9)


def test_only_options_off_their_default_become_overrides():
    options = {"refresh": 5.0, "zero": "energy:0.9", "n_anchors": 3.0, "share_uncond": False}
    assert overrides(form(options=options)) == {"n_anchors": "3", "share_uncond": "false"}


def test_a_good_form_has_no_problems_and_builds_the_request(sd_model):
    assert problems(form(), sd_model, [sd_model.pipe.tokenizer]) == {}
    request = build(form(tokens="cat", negative="blurry", seed=4))
    assert request.story.prompts == ["a cat on a beach", "a cat in a city"]
    assert request.sampling.negative_prompt == "blurry" and request.sampling.seed == 4


@pytest.mark.parametrize("changes,field,words", [
    (dict(subject=""), "subject", "subject"),
    (dict(subject="the"), "subject", "cannot find a noun in subject 'the': name the subject word in Subject words"),
    (dict(scenes=()), "scenes", "the story has no scenes: add at least one scene"),
    (dict(scenes=(("", None),)), "scenes", "the story's scene 1 is empty"),  # as the CLI refuses --scene ""
    (dict(scenes=(("on a beach", None), (None, None))), "scenes", "the story's scene 2 is empty"),
    (dict(scenes=(("on a beach", "x"),)), "scenes", "the seed of scene 1 must be a whole number"),
    (dict(tokens="dog"), "tokens", "subject token 'dog' not found"),
    (dict(tokens="dog"), "tokens", "write a word of the prompt in Subject words"),
    (dict(scenes=(("on a beach " * 20, None),)), "scenes", "tokens long but the text encoder takes"),
    (dict(negative="blurry " * 30), "negative", "the negative prompt"),
    (dict(steps=0), "steps", "steps must be at least 1"),
    (dict(steps=1000), "steps", "steps 1000 is more than the model's scheduler takes"),
    (dict(height=33), "height", "height 33 is not divisible"),
    (dict(width=31), "width", "width 31 is not divisible"),
    (dict(height=4096, width=4096), "height", "height 4096 is over 64"),
    (dict(width=128), "width", "width 128 is over 64"),
    (dict(seed=1.5), "seed", "seed must be a whole number"),
    (dict(negative="blurry", guidance=1.0), "negative", "a negative prompt has no effect at guidance 1"),
    (dict(options={"refresh": 0}), "option:refresh", "option refresh must be at least 1"),
    (dict(method="consistory", options={"prepass_steps": 5000}), "option:prepass_steps", "at most 999"),
    (dict(options={"decomposition": "randomized"}), "option:decomposition", "needs option rank"),
    (dict(method="nope"), "method", "unknown method 'nope'"),
])
def test_each_bad_value_is_reported_at_its_field(sd_model, changes, field, words):
    found = problems(form(**changes), sd_model, [sd_model.pipe.tokenizer])
    assert list(found) == [field] and words in found[field] and "\n" not in found[field]
    assert "--" not in found[field]  # the page's words, not the command line's flags


@pytest.mark.parametrize("changes,args", [
    (dict(steps=0), ["--steps", "0"]),
    (dict(options={"refresh": 0}), ["--set", "refresh=0"]),
    (dict(scenes=(("on a beach", None), ("", None))), ["--scene", ""]),
])
def test_messages_are_the_clis_in_the_pages_words(sd_model, capsys, tmp_path, changes, args):
    found = problems(form(**changes), sd_model, [sd_model.pipe.tokenizer])
    code = main(["generate", "--subject", "a cat", "--scene", "on a beach", "--method", "svd", *args,
                 "--out", str(tmp_path / "out")])
    assert code == 2
    line = capsys.readouterr().err.strip().removeprefix("svdstory: error: ")
    assert in_page_words(line) == next(iter(found.values()))
