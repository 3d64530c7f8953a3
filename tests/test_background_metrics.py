"""World v2 metrics on hand-made stories: background and layout agreement with their chance level,
background leakage (a planted background copy is reported), the subject mask's share on props."""

import pytest
import torch

from svdstory.errors import SvdStoryError
from svdstory.eval.synthworld.metrics import (background_agreement, background_leakage, called_labels,
                                            layout_agreement, mask_share_on_props, pairwise_agreement)
from svdstory.world.catalog import BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES


def bg(lighting="noon", landmark="rock", horizon="mid"):
    return {"lighting": lighting, "landmark": landmark, "horizon": horizon}


def test_pairwise_agreement_counts_equal_pairs():
    assert pairwise_agreement(["a", "a", "b", "b"]) == pytest.approx(2 / 6)
    assert pairwise_agreement(["a"]) == 1.0


def test_agreement_per_attribute_and_chance_level():
    story = [bg("noon", "rock", "low"), bg("noon", "flag", "mid"), bg("sunset", "barrel", "high")]
    out = background_agreement(story)
    assert out["background_agreement_lighting"] == pytest.approx(1 / 3)
    assert out["background_agreement_landmark"] == 0 and out["background_agreement_horizon"] == 0
    assert out["background_agreement"] == pytest.approx(1 / 9)
    assert out["background_agreement_chance"] == pytest.approx((1 / 4 + 1 / 4 + 1 / 3) / 3)
    layout = layout_agreement([{"placement": "left", "size": "small", "facing": "front"}] * 2)
    assert layout["layout_agreement"] == 1.0
    assert layout["layout_agreement_chance"] == pytest.approx(1 / 3)  # three values each: facing left, right, front
    turned = layout_agreement([{"placement": "left", "size": "small", "facing": f} for f in ("left", "right", "front")])
    assert turned["layout_agreement_facing"] == 0 and turned["layout_agreement_placement"] == 1


def test_missing_attribute_is_an_error():
    with pytest.raises(SvdStoryError, match="horizon"):
        background_agreement([{"lighting": "noon", "landmark": "rock"}])


def _independent_story(rng):
    return [{name: values[int(rng.integers(len(values)))] for name, values in BACKGROUND_ATTRIBUTES.items()}
            for _ in range(4)]


def test_planted_background_copy_is_reported_as_leakage():
    import numpy as np

    rng = np.random.default_rng(0)
    vanilla, leaky = {}, {}
    for k in range(48):
        story = _independent_story(rng)
        vanilla[k] = background_agreement(story)
        copied = [story[0]] + [dict(story[0]) if j % 2 else s for j, s in enumerate(story[1:])]  # a sibling's background copied
        leaky[k] = background_agreement(copied)
    out = background_leakage(leaky, vanilla)
    assert out["n_stories"] == 48 and out["background_leakage"] > 0.1 and out["ci_low"] > 0
    mean_vanilla = sum(v["background_agreement"] for v in vanilla.values()) / 48
    assert abs(mean_vanilla - vanilla[0]["background_agreement_chance"]) < 0.08  # independent stories sit at chance
    same = background_leakage(vanilla, vanilla)
    assert same["background_leakage"] == 0 and same["ci_low"] == 0


def test_called_labels_take_the_argmax_in_head_order():
    heads = tuple((name, values) for name, values in LAYOUT_ATTRIBUTES.items())
    probs = {"placement": torch.tensor([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]),
             "size": torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]),
             "facing": torch.tensor([[0.4, 0.5, 0.1], [0.1, 0.2, 0.7]])}
    assert called_labels(probs, heads) == [{"placement": "right", "size": "medium", "facing": "right"},
                                           {"placement": "left", "size": "large", "facing": "front"}]


def test_mask_share_on_props():
    subject = torch.zeros(2, 8, 8)
    subject[:, 2:6, 2:6] = 1  # 16 pixels
    props = torch.zeros(2, 8, 8)
    props[0, 2:4, 2:6] = 1    # covers 8 of them
    assert mask_share_on_props(subject, props) == [0.5, 0.0]
    assert mask_share_on_props(torch.zeros(1, 8, 8), props[:1]) == [0.0]
    assert mask_share_on_props(subject, torch.nn.functional.interpolate(props[:, None], size=16)[:, 0]) == [0.5, 0.0]


def test_scorer_with_a_v2_evaluator_adds_background_layout_and_prop_metrics():
    from PIL import Image

    from svdstory.eval.synthworld import SynthWorldScorer, synthworld_suite
    from svdstory.world import sample
    from svdstory.mini.evaluator import Evaluator, EvaluatorConfig, EvaluatorNet

    torch.manual_seed(0)
    cfg = EvaluatorConfig.for_world(2, channels=(8, 8, 8, 8), decoder_channels=8, embed_dim=8, input_size=64)
    story = synthworld_suite(1, seed=2, scenes_per_story=3)[0]
    images = [Image.fromarray(sample(seed, subject=story["truth"]["subject"], scene=scene, size=64, world=2).image)
              for seed, scene in zip(story["seeds"], story["truth"]["scenes"])]
    scorer = SynthWorldScorer(Evaluator(EvaluatorNet(cfg), cfg))
    _, plain = scorer.score(story, images)
    assert {"background_agreement", "background_agreement_chance", "layout_agreement_facing"} <= set(plain)
    assert "mask_on_props" not in plain
    rows, with_masks = scorer.score(story, images, masks=[torch.ones(64, 64)] * 3)
    assert 0.0 <= with_masks["mask_on_props"] <= 1.0 and "mask_on_props" in rows[0]


def test_v2_suite_repeats_scenes_and_moves_the_subject_word():
    from collections import Counter

    from svdstory.eval.suites import load_suite
    from svdstory.eval.synthworld import synthworld_suite_v2
    from svdstory.world.captions_v2 import parse_caption_v2, vocabulary_v2

    suite = synthworld_suite_v2(20, seed=0, scenes_per_story=4)
    assert suite == synthworld_suite_v2(20, seed=0, scenes_per_story=4)
    repeated = [s for s in suite if s["truth"]["repeated"]]
    assert len(repeated) == 10
    for story in repeated:
        assert Counter(story["truth"]["scenes"])[story["truth"]["repeated"]] == 2
    positions = set()
    for story in suite:
        truth = story["truth"]
        for prompt, scene in zip(story["scenes"], truth["scenes"]):
            text = " ".join(p for p in (story["style"], story["subject"], prompt) if p)
            assert set(text.split()) <= set(vocabulary_v2())
            parsed = parse_caption_v2(text)
            assert parsed["subject"] == truth["subject"] and parsed["scene"] == scene
            assert not parsed["attributes"] and not parsed["background"] and not parsed["layout_attributes"]
            positions.add(text.split().index(truth["subject"]))
    assert len(positions) >= 4
    assert len(load_suite("synthworld-v2:6").stories) == 6 and load_suite("synthworld-v2:6").is_synthworld
