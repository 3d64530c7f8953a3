"""SynthWorld's world v1 renderer: determinism, masks that match the drawn pixels, every class/attribute/scene
(world v2, the default, adds background, layout and props: tests/test_world_v2.py)."""

import dataclasses
import functools

import numpy as np
import pytest

from svdstory.errors import SvdStoryError
from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS, Labels, render, render_scene, render_subject
from svdstory.world import sample as sample_any_world

sample = functools.partial(sample_any_world, world=1)


def _with(labels: Labels, **changes) -> Labels:
    return dataclasses.replace(labels, **changes)


def test_same_seed_same_sample_and_different_seed_different_image():
    a, b, c = sample(11), sample(11), sample(12)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.labels == b.labels and a.caption == b.caption
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.uint8 and a.image.shape == (128, 128, 3)
    assert a.mask.dtype == bool and a.mask.shape == (128, 128)


def test_render_of_labels_reproduces_the_sample():
    s = sample(3, size=96)
    image, mask = render(s.labels, size=96, seed=3)
    assert np.array_equal(image, s.image) and np.array_equal(mask, s.mask)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_image_is_scene_outside_mask_and_subject_layer_inside(seed):
    s = sample(seed)
    layer, layer_mask = render_subject(s.labels)
    scene = render_scene(s.labels.scene, seed=seed)
    assert np.array_equal(layer_mask, s.mask) and s.mask.any()
    assert np.array_equal(s.image[~s.mask], scene[~s.mask])
    assert np.array_equal(s.image[s.mask], layer[s.mask])
    assert not layer[~s.mask].any()  # the subject layer draws nothing outside its mask


def test_mask_pixels_are_subject_pixels_whatever_the_background():
    s = sample(21)
    other_scene = next(x for x in SCENES if x != s.labels.scene)
    image_a, mask_a = render(s.labels, seed=1)
    image_b, mask_b = render(_with(s.labels, scene=other_scene), seed=2)
    assert np.array_equal(mask_a, mask_b)
    assert np.array_equal(image_a[mask_a], image_b[mask_b])
    assert (image_a[~mask_a] != image_b[~mask_b]).any(axis=-1).mean() > 0.5


@pytest.mark.parametrize("subject", list(SUBJECTS))
def test_every_attribute_value_renders_visibly_inside_the_mask(subject):
    base = sample(7, subject=subject).labels
    for name, values in ATTRIBUTES.items():
        images = []
        for value in values:
            labels = _with(base, attributes={**base.attributes, name: value})
            layer, mask = render_subject(labels)
            assert 0.08 < mask.mean() < 0.5, (subject, name, value, mask.mean())
            images.append(layer)
        for i in range(len(values)):
            for j in range(i):  # each pair of values differs in a visible number of pixels
                changed = (images[i] != images[j]).any(axis=-1).mean()
                assert changed > 0.003, (subject, name, values[i], values[j], changed)


def test_accessories_grow_the_mask_and_only_change_subject_pixels():
    base = sample(8, subject="dog", attributes={"accessory": "none"})
    for accessory in ("hat", "crown", "bow"):
        s = sample(8, subject="dog", attributes={"accessory": accessory})
        assert s.mask.sum() > base.mask.sum()
        assert np.array_equal(s.image[~(s.mask | base.mask)], base.image[~(s.mask | base.mask)])


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("size", [64, 128, 192])
def test_every_scene_renders_at_several_sizes_and_varies_with_seed(scene, size):
    a, b = render_scene(scene, size, seed=0), render_scene(scene, size, seed=1)
    assert a.shape == (size, size, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert a.reshape(-1, 3).std(axis=0).max() > 10  # not a flat fill


def _scene_features(scene: str, seed: int) -> np.ndarray:
    image = render_scene(scene, 64, seed).astype(np.float32)
    return image.reshape(4, 16, 4, 16, 3).mean(axis=(1, 3)).ravel()  # 4x4 colour layout


def test_scenes_are_told_apart_by_coarse_colour_layout():
    train = {scene: np.mean([_scene_features(scene, s) for s in range(12)], axis=0) for scene in SCENES}
    names, centroids = list(train), np.stack(list(train.values()))
    hits = [names[np.argmin(((centroids - _scene_features(scene, s)) ** 2).sum(1))] == scene
            for scene in SCENES for s in range(100, 110)]
    assert np.mean(hits) >= 0.95


def test_objects_ignore_pose_but_animals_move_with_it():
    still = {"stride": 0.0, "neck": 0.0, "head": 0.0, "tail": 0.0}
    moved = {"stride": 0.9, "neck": -0.8, "head": 0.7, "tail": -0.9}
    for subject, family in SUBJECTS.items():
        base = sample(5, subject=subject).labels
        _, a = render_subject(_with(base, layout={**base.layout, **still}))
        _, b = render_subject(_with(base, layout={**base.layout, **moved}))
        assert np.array_equal(a, b) == (family == "object"), subject


def test_facing_left_mirrors_the_subject():
    for subject in SUBJECTS:
        base = sample(9, subject=subject).labels
        layout = {**base.layout, "x": 0.5}
        _, right = render_subject(_with(base, layout={**layout, "facing": 1.0}))
        _, left = render_subject(_with(base, layout={**layout, "facing": -1.0}))
        assert (right != left[:, ::-1]).mean() < 0.005, subject
        assert not np.array_equal(right, left) or subject in ("lamp", "mug")


def test_classes_differ_in_shape_at_the_same_layout():
    masks = {}
    for subject in SUBJECTS:
        labels = sample(4, subject=subject).labels
        masks[subject] = render_subject(_with(labels, layout={**labels.layout, "x": 0.5, "y": 0.5}))[1]
    names = list(masks)
    for i in range(len(names)):
        for j in range(i):
            a, b = masks[names[i]], masks[names[j]]
            assert (a & b).sum() / (a | b).sum() < 0.8, (names[i], names[j])


def test_subject_area_stays_in_range():
    areas = np.array([sample(seed).mask.mean() for seed in range(120)])
    assert areas.min() > 0.10 and areas.max() < 0.45
    assert np.median(areas) > 0.15


def test_fixing_the_subject_keeps_the_other_random_choices():
    free = sample(31)
    other = next(x for x in SUBJECTS if x != free.labels.subject)
    fixed = sample(31, subject=other)
    assert fixed.labels.attributes == free.labels.attributes and fixed.labels.scene == free.labels.scene


def test_partial_attributes_are_kept_and_the_rest_drawn():
    s = sample(2, attributes={"color": "purple"})
    assert s.labels.attributes["color"] == "purple" and set(s.labels.attributes) == set(ATTRIBUTES)


@pytest.mark.parametrize("kwargs, word", [
    ({"subject": "unicorn"}, "unicorn"), ({"scene": "moon"}, "moon"), ({"size": 100}, "100"),
    ({"size": 48}, "48"), ({"attributes": {"color": "teal"}}, "teal"), ({"attributes": {"mood": "x"}}, "mood"),
    ({"attribute_rate": 1.5}, "1.5"),
])
def test_bad_inputs_raise_a_named_error(kwargs, word):
    with pytest.raises(SvdStoryError, match=word):
        sample(0, **kwargs)


def test_bad_seed_and_labels_raise():
    with pytest.raises(SvdStoryError, match="-1"):
        sample(-1)
    labels = sample(0).labels
    with pytest.raises(SvdStoryError, match="scale"):
        _with(labels, layout={"x": 0.5, "y": 0.5})
    with pytest.raises(SvdStoryError, match="family"):
        _with(labels, family="object" if labels.family == "animal" else "animal")


def test_labels_round_trip_through_a_dict():
    labels = sample(6).labels
    assert Labels.from_dict(labels.to_dict()) == labels
