"""SynthWorld v2: hidden background and layout attributes and props, labels that agree with pixels,
captions that parse back; v1 stays the default and unchanged."""

import dataclasses
from collections import Counter

import numpy as np
import pytest

from svdstory.world import SCENES, SUBJECTS, Labels, render, sample
from svdstory.world.background import light, line_height
from svdstory.world.captions_v2 import parse_caption_v2, vocabulary_v2
from svdstory.world.catalog import BACKGROUND_ATTRIBUTES, DEFAULT_WORLD, LAYOUT_ATTRIBUTES, PROP_CLASSES
from svdstory.world.render import render_layers
from svdstory.world.seeds import stream

SEEDS = range(40)


@pytest.fixture(scope="module")
def samples():
    return [sample(s, world=2) for s in SEEDS]


def test_v1_stays_the_default_and_draws_no_v2_labels():
    assert DEFAULT_WORLD == 1
    a, b = sample(5), sample(5, world=1)
    assert np.array_equal(a.image, b.image) and a.labels == b.labels and a.caption == b.caption
    assert a.labels.world == 1 and not a.labels.props and "background" not in a.labels.to_dict()


def test_v2_is_deterministic_and_render_of_labels_reproduces_it(samples):
    for seed, s in zip(SEEDS[:8], samples):
        again = sample(seed, world=2)
        assert np.array_equal(s.image, again.image) and s.labels == again.labels and s.caption == again.caption
        image, mask, owner = render_layers(s.labels, seed=seed)
        assert np.array_equal(image, s.image) and np.array_equal(mask, s.mask)
        assert np.array_equal(owner, s.prop_map)
        assert Labels.from_dict(s.labels.to_dict()) == s.labels


def test_prop_labels_agree_with_prop_pixels(samples):
    for seed, s in zip(SEEDS, samples):
        assert not (s.prop_map[s.mask] >= 0).any()  # the subject is in front of every prop
        for k, prop in enumerate(s.labels.props):
            rows, cols = np.nonzero(s.prop_map == k)
            assert len(rows), (seed, k)
            assert prop.bbox == (cols.min() / 128, rows.min() / 128, (cols.max() + 1) / 128, (rows.max() + 1) / 128)
        bare, _ = render(dataclasses.replace(s.labels, props=()), seed=seed)
        changed = (bare != s.image).any(-1)
        assert not changed[s.prop_map < 0].any(), seed  # props change their own pixels only
        if s.labels.props:
            assert changed[s.prop_map >= 0].mean() > 0.5


def test_props_belong_to_their_scene_are_small_and_seldom_animals():
    props = [(s.labels.scene, p) for seed in range(300) for s in [sample(seed, world=2)] for p in s.labels.props]
    assert len(props) > 200
    assert all(p.subject in PROP_CLASSES[scene] for scene, p in props)
    animals = sum(SUBJECTS[p.subject] == "animal" for _, p in props) / len(props)
    assert 0 < animals < 0.12
    areas = [(p.bbox[2] - p.bbox[0]) * (p.bbox[3] - p.bbox[1]) for _, p in props]
    assert max(areas) < 0.1


def test_lighting_is_a_global_tint_of_the_noon_image():
    s = sample(3, world=2, background={"lighting": "noon"})
    for lighting in BACKGROUND_ATTRIBUTES["lighting"][1:]:
        lit = sample(3, world=2, background={"lighting": lighting})
        assert np.array_equal(lit.mask, s.mask) and np.array_equal(lit.image, light(s.image, lighting))
        assert np.abs(lit.image.astype(int) - s.image).mean() > 10, lighting
    warm = sample(3, world=2, background={"lighting": "sunset"}).image.astype(float)
    assert warm[..., 0].mean() - warm[..., 2].mean() > s.image[..., 0].mean() - s.image[..., 2].mean() + 20


@pytest.mark.parametrize("scene", SCENES)
def test_horizon_bands_never_overlap_and_move_the_drawn_line(scene):
    bands = [[line_height(scene, h, stream(seed, "horizon")) for seed in range(50)]
             for h in BACKGROUND_ATTRIBUTES["horizon"]]
    for upper, lower in zip(bands, bands[1:]):
        assert max(upper) + 0.04 < min(lower)
    labels = sample(9, world=2, scene=scene, background={"horizon": "high", "lighting": "noon"}).labels
    low = dataclasses.replace(labels, background={**labels.background, "horizon": "low"})
    a, b = render(labels, seed=9)[0], render(low, seed=9)[0]
    rows = (a != b).any(-1).any(-1)
    assert rows.mean() > 0.1  # a band change repaints a broad stretch of rows


def test_landmarks_differ_outside_subject_and_props():
    base = sample(4, world=2, background={"landmark": "rock", "lighting": "noon"})
    for kind in BACKGROUND_ATTRIBUTES["landmark"][1:]:
        other = sample(4, world=2, background={"landmark": kind, "lighting": "noon"})
        changed = (other.image != base.image).any(-1)
        assert 0.002 < changed.mean() < 0.1, kind
        assert not changed[base.mask].any()


def test_layout_attributes_show_in_the_subject_mask():
    def centre_and_area(**staging):
        out = []
        for seed in range(24):
            s = sample(seed, world=2, subject="dog", layout_attributes=staging)
            cols = np.nonzero(s.mask)[1]
            centre = (cols.min() + cols.max() + 1) / 256
            assert abs(centre - s.labels.layout["x"]) < 0.06  # the pose moves the drawn box a little
            out.append((centre, s.mask.mean(), s.labels.layout["facing"]))
        return np.array(out)

    xs = [centre_and_area(placement=p, size="medium")[:, 0] for p in LAYOUT_ATTRIBUTES["placement"]]
    assert xs[0].mean() + 0.07 < xs[1].mean() and xs[1].mean() + 0.07 < xs[2].mean()
    assert (xs[0] < xs[1].max()).all() and (xs[2] > xs[1].min()).all()
    areas = [centre_and_area(size=v)[:, 1] for v in LAYOUT_ATTRIBUTES["size"]]
    assert areas[0].max() < areas[1].min() and areas[1].max() < areas[2].min()
    assert (centre_and_area(facing="left")[:, 2] == -1).all() and (centre_and_area(facing="right")[:, 2] == 1).all()


def test_hidden_attributes_are_spread_over_their_values(samples):
    more = samples + [sample(s, world=2) for s in range(40, 200)]
    for kind, catalogue in (("background", BACKGROUND_ATTRIBUTES), ("layout_attributes", LAYOUT_ATTRIBUTES)):
        for name, values in catalogue.items():
            counts = Counter(getattr(s.labels, kind)[name] for s in more)
            assert set(counts) == set(values) and min(counts.values()) > len(more) / len(values) / 2, (name, counts)


def test_captions_parse_back_and_move_the_subject_word():
    positions = Counter()
    vocab = set(vocabulary_v2())
    for seed in range(300):
        s = sample(seed, world=2, attribute_rate=0.5, detail_rate=0.7)
        words = s.caption.split()
        assert set(words) <= vocab, s.caption
        parsed = parse_caption_v2(s.caption)
        assert parsed["subject"] == s.labels.subject and parsed["scene"] == s.labels.scene, s.caption
        for name, value in parsed["attributes"].items():
            assert s.labels.attributes[name] == value, s.caption
        for name, value in parsed["background"].items():
            assert s.labels.background[name] == value, s.caption
        for name, value in parsed["layout_attributes"].items():
            assert s.labels.layout_attributes[name] == value, s.caption
        if parsed["props"]:
            assert parsed["props"] == dict(Counter(p.subject for p in s.labels.props)), s.caption
        positions[words.index(s.labels.subject)] += 1
    assert len(positions) >= 6 and max(positions.values()) < 0.5 * sum(positions.values())
