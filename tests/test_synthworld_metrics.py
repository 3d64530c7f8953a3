"""SynthWorld metrics on hand-made predictions (no weights), the suite, and, when the trained
evaluator is shipped, end to end on rendered SynthWorld images."""

import numpy as np
import pytest
import torch

from svdstory.errors import SvdStoryError
from svdstory.eval.synthworld.metrics import background_masks
from svdstory.eval.synthworld import SynthWorldScorer, story_scores, synthworld_suite
from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS, parse_caption
from svdstory.mini.evaluator import Predictions

SIZE = 32   # pixels of the hand-made masks
CELLS = 4   # embedding grid side


def onehot(indices, n, hot=0.9):
    """Rows with `hot` on the index and the rest spread evenly."""
    probs = torch.full((len(indices), n), (1 - hot) / (n - 1))
    probs[torch.arange(len(indices)), torch.as_tensor(indices)] = hot
    return probs


def square_mask(n, side=12):
    mask = torch.zeros(n, SIZE, SIZE)
    mask[:, 8:8 + side, 8:8 + side] = 1.0
    return mask


def make_predictions(subject, scenes, attribute_values, embeddings=None, mask=None, subject_hot=0.9):
    """Predictions of len(scenes) images: subject name, truth scene names, and per image a dict
    attribute -> value index (missing attributes default to value 0)."""
    n = len(scenes)
    attributes = {name: onehot([values.get(name, 0) for values in attribute_values], len(vals))
                  for name, vals in ATTRIBUTES.items()}
    if embeddings is None:
        embeddings = torch.ones(n, 8)
    emb = torch.nn.functional.normalize(embeddings, dim=1)[:, :, None, None].expand(-1, -1, CELLS, CELLS)
    return Predictions(subject=onehot([list(SUBJECTS).index(subject)] * n, len(SUBJECTS), subject_hot),
                       attributes=attributes,
                       scene=onehot([SCENES.index(s) for s in scenes], len(SCENES)),
                       mask=square_mask(n) if mask is None else mask, embedding=emb.contiguous())


TRUTH = {"subject": "cat", "family": "animal", "scenes": ["forest", "beach", "night", "city"]}
SAME = [{"color": 2, "pattern": 1, "accessory": 3, "eyes": 0}] * 4


def own_background(scenes=TRUTH["scenes"]):
    return onehot([SCENES.index(s) for s in scenes], len(SCENES), hot=0.95)


# ---------------------------------------------------------------- identity


def test_identical_predictions_score_identity_one():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["identity_attr"] == 1.0
    assert all(metrics[f"identity_attr_{name}"] == 1.0 for name in ATTRIBUTES)
    assert metrics["identity_embed"] == pytest.approx(1.0)


def test_different_attributes_and_embeddings_score_low():
    values = [{name: k % len(vals) for name, vals in ATTRIBUTES.items()} for k in range(4)]  # all differ
    preds = make_predictions("cat", TRUTH["scenes"], values, embeddings=torch.eye(4, 8))
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["identity_attr"] == 0.0
    assert metrics["identity_embed"] == pytest.approx(0.0, abs=1e-6)


def test_identity_counts_each_attribute_and_pair():
    # images 0-2 share the color, image 3 differs: 3 of 6 pairs agree on color, all agree on the rest
    values = [dict(SAME[0]) for _ in range(4)]
    values[3]["color"] = 5
    preds = make_predictions("cat", TRUTH["scenes"], values)
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["identity_attr_color"] == pytest.approx(3 / 6)
    assert metrics["identity_attr_pattern"] == 1.0
    assert metrics["identity_attr"] == pytest.approx((0.5 + 3) / 4)


def test_chance_level_is_mean_inverse_value_count():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    _, metrics = story_scores(preds, own_background(), TRUTH)
    expected = np.mean([1 / len(values) for values in ATTRIBUTES.values()])
    assert metrics["identity_attr_chance"] == pytest.approx(expected)


def test_embedding_is_pooled_inside_the_mask_only():
    # inside the mask every image carries the same vector; outside, each its own: consistency must stay 1
    preds = make_predictions("cat", TRUTH["scenes"], SAME, mask=torch.zeros(4, SIZE, SIZE))
    preds.mask[:, :SIZE // 2, :SIZE // 2] = 1.0  # the top-left quarter = the top-left 2x2 embedding cells
    emb = torch.eye(4, 8)[:, :, None, None].repeat(1, 1, CELLS, CELLS)
    emb[:, :, :CELLS // 2, :CELLS // 2] = torch.nn.functional.one_hot(torch.tensor(7), 8).float()[:, None, None]
    preds.embedding = emb
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["identity_embed"] == pytest.approx(1.0)
    preds.mask = 1 - preds.mask  # now pooled outside the subject: all different
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["identity_embed"] == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- prompt alignment and presence


def test_prompt_alignment_counts_subject_and_scene_hits():
    preds = make_predictions("cat", ["forest", "beach", "snow", "room"], SAME)  # scenes 2, 3 wrong
    preds.subject[3] = onehot([list(SUBJECTS).index("dog")], len(SUBJECTS))[0]  # subject 3 wrong
    rows, metrics = story_scores(preds, own_background(), TRUTH)
    assert [r["scene_ok"] for r in rows] == [1.0, 1.0, 0.0, 0.0]
    assert [r["subject_ok"] for r in rows] == [1.0, 1.0, 1.0, 0.0]
    assert [r["prompt_alignment"] for r in rows] == [1.0, 1.0, 0.5, 0.0]
    assert metrics["scene_ok"] == 0.5 and metrics["subject_ok"] == 0.75
    assert metrics["prompt_alignment"] == pytest.approx(0.625)


def test_presence_needs_area_and_class_probability():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    preds.mask[1] = 0.0
    preds.mask[1, :4, :5] = 1.0  # 20 px of 1024 < 3%
    preds.subject[2] = onehot([list(SUBJECTS).index("cat")], len(SUBJECTS), hot=0.4)[0]
    rows, metrics = story_scores(preds, own_background(), TRUTH)
    assert [r["present"] for r in rows] == [1.0, 0.0, 0.0, 1.0]
    assert metrics["presence"] == 0.5
    assert rows[1]["mask_area"] == pytest.approx(20 / SIZE**2)


# ---------------------------------------------------------------- leakage


def test_no_leak_when_backgrounds_keep_their_scenes():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    _, metrics = story_scores(preds, own_background(), TRUTH)
    assert metrics["scene_leak_rate"] == 0.0 and metrics["bg_scene_ok"] == 1.0
    assert metrics["scene_leak_strength"] == pytest.approx(3 * 0.05 / (len(SCENES) - 1))


def test_planted_background_swap_is_reported_as_leakage():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    background = own_background()
    background[1] = onehot([SCENES.index("night")], len(SCENES), hot=0.7)[0]  # image 1 shows image 2's scene
    rows, metrics = story_scores(preds, background, TRUTH)
    assert [r["scene_leak"] for r in rows] == [0.0, 1.0, 0.0, 0.0]
    other = 0.3 / (len(SCENES) - 1)
    assert rows[1]["scene_leak_strength"] == pytest.approx(0.7 + 2 * other)  # night + forest + city
    assert metrics["scene_leak_rate"] == 0.25
    assert metrics["scene_leak_strength"] > rows[0]["scene_leak_strength"]


def test_a_scene_outside_the_story_is_not_leakage():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    background = own_background()
    background[0] = onehot([SCENES.index("desert")], len(SCENES), hot=0.9)[0]
    rows, _ = story_scores(preds, background, TRUTH)
    assert rows[0]["scene_leak"] == 0.0 and rows[0]["bg_scene_ok"] == 0.0


def test_background_masks_threshold_then_grow():
    mask = torch.zeros(1, 16, 16)
    mask[0, 8, 8] = 0.6
    mask[0, 2, 2] = 0.4
    region = background_masks(mask, grow=1)
    assert region[0, 7:10, 7:10].all() and region.sum() == 9


# ---------------------------------------------------------------- scorer wrapper


class FakeEvaluator:
    """Returns planted predictions and records what the scorer asked for."""

    def __init__(self, predictions, background):
        self.predictions, self.background, self.seen_masks = predictions, background, None

    def predict(self, images):
        assert len(images) == len(self.predictions.subject)
        return self.predictions

    def predict_background(self, images, masks):
        self.seen_masks = masks
        return self.background


def test_scorer_reads_truth_or_parses_prompts():
    preds = make_predictions("cat", TRUTH["scenes"], SAME)
    fake = FakeEvaluator(preds, own_background())
    scorer = SynthWorldScorer(fake)
    story = {"id": "s", "subject": "a cat", "scenes": ["in a forest", "on a beach", "at night", "in a city"]}
    rows, metrics = scorer.score(story, [None] * 4)
    assert len(rows) == 4 and metrics["prompt_alignment"] == 1.0 and metrics["presence"] == 1.0
    assert fake.seen_masks.dtype == torch.bool and fake.seen_masks[0, 7, 7] and not fake.seen_masks[0, 0, 0]
    assert all(isinstance(v, (int, float)) for row in rows for v in row.values())
    with pytest.raises(SvdStoryError, match="4 scenes"):
        scorer.score(story, [None] * 3)
    with pytest.raises(SvdStoryError, match="truth"):
        scorer.score({"id": "x", "subject": "a person", "scenes": ["in a forest"]}, [None])


def test_scorer_runs_an_untrained_evaluator_on_rendered_images():
    from PIL import Image

    from svdstory.eval.synthworld import synthworld_suite_v2
    from svdstory.world import BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, sample
    from svdstory.mini.evaluator import Evaluator, EvaluatorConfig, EvaluatorNet

    torch.manual_seed(0)
    cfg = EvaluatorConfig.for_world(channels=(8, 8, 8, 8), decoder_channels=8, embed_dim=8, input_size=64)
    story = synthworld_suite_v2(1, seed=2, scenes_per_story=3)[0]
    truth = story["truth"]
    images = [Image.fromarray(sample(seed, subject=truth["subject"], scene=scene, size=64).image)
              for seed, scene in zip(story["seeds"], truth["scenes"])]
    rows, metrics = SynthWorldScorer(Evaluator(EvaluatorNet(cfg), cfg)).score(story, images)
    assert [row["image"] for row in rows] == [0, 1, 2]
    expected = {"identity_attr", "identity_attr_chance", "identity_embed", "subject_ok", "scene_ok",
                "prompt_alignment", "presence", "scene_leak_rate", "scene_leak_strength", "bg_scene_ok"}
    expected |= {f"identity_attr_{name}" for name in ATTRIBUTES}
    for kind, heads in (("background", BACKGROUND_ATTRIBUTES), ("layout", LAYOUT_ATTRIBUTES)):
        expected |= {f"{kind}_agreement", f"{kind}_agreement_chance"} | {f"{kind}_agreement_{n}" for n in heads}
    assert expected == set(metrics)
    assert all(0.0 <= v <= 1.0 for k, v in metrics.items() if k != "identity_embed")
    assert -1.0 <= metrics["identity_embed"] <= 1.0 + 1e-6


# ---------------------------------------------------------------- suite


def test_suite_is_deterministic_and_seed_dependent():
    assert synthworld_suite(12, seed=3) == synthworld_suite(12, seed=3)
    assert synthworld_suite(12, seed=3) != synthworld_suite(12, seed=4)


def test_suite_balances_families_and_classes():
    suite = synthworld_suite(24, seed=1, scenes_per_story=6)
    families = [story["category"] for story in suite]
    assert families[::2] == ["animal"] * 12 and families[1::2] == ["object"] * 12
    counts = {name: sum(s["truth"]["subject"] == name for s in suite) for name in SUBJECTS}
    assert set(counts.values()) == {2}  # 12 stories per family, 6 classes each
    assert len({s["id"] for s in suite}) == 24


def test_suite_prompts_parse_back_to_their_truth():
    for story in synthworld_suite(20, seed=0, scenes_per_story=5):
        truth = story["truth"]
        assert story["tokens"] == [truth["subject"]] and story["category"] == SUBJECTS[truth["subject"]]
        assert story["subject"].split()[0] == ("an" if truth["subject"][0] in "aeiou" else "a")
        assert len(set(truth["scenes"])) == 5 == len(story["seeds"]) == len(set(story["seeds"]))
        for prompt, scene in zip(story["scenes"], truth["scenes"]):
            parsed = parse_caption(story["subject"] + " " + prompt)
            assert parsed == {"subject": truth["subject"], "scene": scene, "attributes": {}}


def test_suite_rejects_bad_sizes():
    with pytest.raises(SvdStoryError, match="scenes_per_story"):
        synthworld_suite(2, scenes_per_story=len(SCENES) + 1)
    with pytest.raises(SvdStoryError, match="n_stories"):
        synthworld_suite(0)


# ---------------------------------------------------------------- end to end with the trained evaluator

IDENTITY = {"color": "red", "pattern": "striped", "accessory": "hat", "eyes": "round"}
E2E_SCENES = ["forest", "beach", "night", "city"]


@pytest.fixture(scope="module")
def scorer():
    from svdstory.mini.evaluator import CONFIG_NAME, WEIGHTS_NAME, Evaluator, default_evaluator_path

    folder = default_evaluator_path()
    if not ((folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file()):
        pytest.skip(f"the trained SynthWorld evaluator is not shipped at {folder}")
    return SynthWorldScorer(Evaluator.load())


def _story(subject):
    truth = {"subject": subject, "family": SUBJECTS[subject], "scenes": E2E_SCENES}
    return {"id": f"e2e-{subject}", "subject": subject, "scenes": E2E_SCENES, "truth": truth}


def _render(subject, attributes_per_image):
    from svdstory.world import sample

    return [sample(seed, subject=subject, attributes=attrs, scene=scene)
            for seed, (attrs, scene) in enumerate(zip(attributes_per_image, E2E_SCENES))]


@pytest.mark.parametrize("subject", ["dog", "bus"])
def test_end_to_end_on_rendered_stories(scorer, subject):
    from PIL import Image

    from svdstory.world import render_scene

    same = _render(subject, [IDENTITY] * 4)
    varied = _render(subject, [{name: values[k] for name, values in ATTRIBUTES.items()} for k in range(4)])
    _, consistent = scorer.score(_story(subject), [Image.fromarray(s.image) for s in same])
    _, mixed = scorer.score(_story(subject), [Image.fromarray(s.image) for s in varied])
    assert consistent["identity_attr"] >= 0.8 and mixed["identity_attr"] <= 0.4
    assert consistent["identity_embed"] > mixed["identity_embed"] + 0.5
    assert consistent["prompt_alignment"] >= 0.75 and consistent["presence"] >= 0.75
    assert consistent["scene_leak_rate"] <= 0.25

    # image i keeps its subject in front of image i+1's background: its prompted scene is gone
    pasted = [np.where(s.mask[..., None], s.image, render_scene(E2E_SCENES[(i + 1) % 4], 128, (i + 1) % 4))
              for i, s in enumerate(same)]
    _, leaked = scorer.score(_story(subject), [Image.fromarray(p.astype(np.uint8)) for p in pasted])
    assert leaked["scene_leak_rate"] >= 0.75 and leaked["scene_leak_strength"] > consistent["scene_leak_strength"] + 0.5
    assert leaked["scene_ok"] <= 0.25 and leaked["identity_attr"] >= 0.8  # the subject itself is unchanged
