"""SynthWorld's world v1 captions: they parse back to their labels, use only vocabulary words, and name
attributes in about `attribute_rate` of the cases (v2's captions: tests/test_world_v2.py); the catalogue."""

import json
import re

import numpy as np
import pytest

from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS, caption, info, parse_caption, sample, vocabulary


def _labels(n: int):
    return [sample(seed, size=64, world=1).labels for seed in range(n)]


LABELS = _labels(60)


def test_captions_parse_back_to_their_labels():
    rng = np.random.default_rng(0)
    mentioned = 0
    for labels in LABELS * 10:
        text = caption(labels, rng, attribute_rate=0.5)
        parsed = parse_caption(text)
        assert parsed["subject"] == labels.subject and parsed["scene"] == labels.scene, text
        for name, value in parsed["attributes"].items():
            assert labels.attributes[name] == value, text
        mentioned += bool(parsed["attributes"])
    assert mentioned > 0


def test_caption_words_are_in_the_vocabulary():
    vocab = set(vocabulary())
    rng = np.random.default_rng(1)
    used = set()
    for labels in LABELS * 10:
        words = caption(labels, rng, attribute_rate=0.7).split()
        assert set(words) <= vocab
        used |= set(words)
    assert len(used) > 0.8 * len(vocab)


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_attribute_rate_is_respected(rate):
    rng = np.random.default_rng(2)
    named = [bool(parse_caption(caption(labels, rng, rate))["attributes"]) for labels in LABELS * 30]
    assert abs(np.mean(named) - rate) < 0.05


def test_sample_captions_mention_the_sampled_subject_and_scene():
    for seed in range(30):
        s = sample(seed, size=64, attribute_rate=0.0, world=1)
        parsed = parse_caption(s.caption)
        assert (parsed["subject"], parsed["scene"], parsed["attributes"]) == (s.labels.subject, s.labels.scene, {})


def test_parse_caption_leaves_unknown_parts_none():
    parsed = parse_caption("A photo of something strange, wearing a crown.")
    assert parsed == {"subject": None, "scene": None, "attributes": {"accessory": "crown"}}


def test_vocabulary_words_are_unambiguous():
    values = [v for vs in ATTRIBUTES.values() for v in vs]
    groups = [list(SUBJECTS), list(SCENES), values]
    assert all(len(set(g)) == len(g) for g in groups)
    assert not set(SUBJECTS) & set(SCENES) and not (set(SUBJECTS) | set(SCENES)) & set(values)
    assert all(re.fullmatch(r"[a-z]+", w) for w in vocabulary())


def test_info_lists_both_families_attributes_and_scenes():
    summary = json.loads(json.dumps(info()))
    assert set(summary["families"]) == {"animal", "object"}
    assert all(len(names) >= 6 for names in summary["families"].values())
    assert sorted(sum(summary["families"].values(), [])) == sorted(SUBJECTS)
    assert len(summary["attributes"]) >= 4 and all(len(v) >= 4 for v in summary["attributes"].values())
    assert len(summary["scenes"]) >= 10
    assert summary["world"] == 2 and set(summary["background"]) == {"lighting", "landmark", "horizon"}
    assert set(summary["layout"]) == {"placement", "size", "facing"} and set(summary["props"]) == set(SCENES)


def test_info_words_are_the_words_of_captions():
    """`svdstory world info` lists what the bundled models know: every caption word, no template field."""
    words = set(info()["words"])
    seen = {w for seed in range(300) for w in re.findall(r"[a-z]+", sample(seed, size=64, attribute_rate=0.8).caption)}
    assert seen <= words and {"noun", "subject"}.isdisjoint(words)
    assert {"sunset", "balloon", "horizon", "facing", "cars", "beside"} <= words
