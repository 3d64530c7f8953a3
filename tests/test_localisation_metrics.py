"""Localisation metrics: AUROC and IoU of a method's own subject maps against the evaluator's subject
mask, on hand-made maps (AUROC against pair counting) and through the bench's scorer on tiny-model runs."""
import itertools

import numpy as np
import pytest
import torch
from cases import BASE_OPTIONS, BASE_STEPS

from svdstory.errors import SvdStoryError
from svdstory.eval.bench import score_unit
from svdstory.eval.synthworld import SynthWorldScorer, story_scores
from svdstory.eval.synthworld.metrics import auroc, localisation_rows, mask_iou
from svdstory.mini.evaluator import EvaluatorConfig, Predictions
from svdstory.world import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS

KEYS = ("mask_auroc", "mask_iou")


def pair_count_auroc(scores, labels) -> float:
    """The AUROC by its definition: the share of (positive, negative) pairs ranked right, a tie counting 1/2."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))


# ---------------------------------------------------------------- AUROC and IoU


def test_auroc_of_a_perfect_map_is_one_and_of_its_inverse_zero():
    labels = torch.tensor([[0, 1, 1], [0, 0, 1]], dtype=torch.bool)
    scores = torch.tensor([[0.1, 0.7, 0.9], [0.3, 0.2, 0.6]])
    assert auroc(scores, labels) == 1.0
    assert auroc(-scores, labels) == 0.0
    assert auroc(scores, ~labels) == 0.0


def test_auroc_of_a_constant_map_is_one_half():
    labels = torch.tensor([True, False, False, True, False])
    assert auroc(torch.full((5,), 0.3), labels) == 0.5


def test_auroc_counts_a_tied_pair_as_one_half():
    # pairs (pos, neg): (0.4, 0.1) right, (0.4, 0.4) tied, (0.8, 0.1) right, (0.8, 0.4) right
    assert auroc(torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([False, True, False, True])) == 0.875


@pytest.mark.parametrize("seed", range(4))
def test_auroc_matches_pair_counting_with_many_ties(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (60,), generator=g).float() / 3  # four values: most pairs tie
    labels = torch.rand(60, generator=g) < 0.3 + 0.1 * seed
    assert auroc(scores, labels) == pytest.approx(pair_count_auroc(scores.tolist(), labels.tolist()), abs=1e-12)


def test_auroc_is_undefined_with_one_class():
    assert auroc(torch.rand(9), torch.zeros(9, dtype=torch.bool)) is None
    assert auroc(torch.rand(9), torch.ones(9, dtype=torch.bool)) is None


def test_mask_iou_of_hand_made_masks():
    a, b = torch.zeros(8, 8, dtype=torch.bool), torch.zeros(8, 8, dtype=torch.bool)
    a[0:4, 0:4] = True  # 16 pixels
    b[2:4, 0:6] = True  # 12 pixels, 8 of them in a
    assert mask_iou(a, b) == 8 / 20
    assert mask_iou(a, a) == 1.0 and mask_iou(a, ~a) == 0.0
    assert mask_iou(a, torch.zeros_like(a)) == 0.0
    assert mask_iou(torch.zeros_like(a), torch.zeros_like(a)) is None


# ---------------------------------------------------------------- a map against the evaluator's mask


def test_each_map_cell_scores_the_evaluator_pixels_it_covers():
    """A 2x2 map on a 4x4 evaluator mask: the one subject pixel ties with the three others of its cell
    (the map nearest-upsampled; a downsampled evaluator mask would be empty and give no AUROC)."""
    maps = torch.tensor([[[0.9, 0.1], [0.2, 0.3]]])
    truth = torch.zeros(1, 4, 4)
    truth[0, 0, 0] = 1.0
    (row,) = localisation_rows(maps, truth)
    assert row["mask_auroc"] == pytest.approx((12 + 3 * 0.5) / 15)
    assert row["mask_iou"] == pytest.approx(1 / 4)  # the Otsu mask is the top-left cell: 4 pixels


def test_the_iou_takes_the_otsu_mask_of_the_map_not_a_fixed_threshold():
    maps = torch.tensor([[[0.3, 0.1], [0.1, 0.1]], [[0.3, 0.1], [0.1, 0.1]]])  # every value below 0.5
    truth = torch.zeros(2, 4, 4)
    truth[0, :2, :2] = 0.8  # the evaluator's mask is its probability > 0.5: the top-left cell
    rows = localisation_rows(maps, truth)
    assert rows[0] == {"mask_auroc": 1.0, "mask_iou": 1.0}
    assert rows[1] == {"mask_auroc": None, "mask_iou": 0.0}  # no subject in the evaluator's eyes


def test_maps_and_masks_must_be_one_per_image():
    with pytest.raises(SvdStoryError, match="expected"):
        localisation_rows(torch.rand(2, 4, 4), torch.rand(3, 8, 8))


def predictions(mask: torch.Tensor, world: int = 1) -> Predictions:
    """Planted evaluator predictions: uniform labels, `mask` (N, H, W) as the subject mask."""
    n = len(mask)
    uniform = lambda k: torch.full((n, k), 1.0 / k)  # noqa: E731
    v2 = {}
    if world == 2:
        v2 = dict(background={name: uniform(len(v)) for name, v in BACKGROUND_ATTRIBUTES.items()},
                  layout={name: uniform(len(v)) for name, v in LAYOUT_ATTRIBUTES.items()},
                  props=uniform(len(SUBJECTS)), prop_mask=torch.zeros_like(mask))
    attributes = {name: uniform(len(v)) for name, v in ATTRIBUTES.items()}
    return Predictions(subject=uniform(len(SUBJECTS)), attributes=attributes, scene=uniform(len(SCENES)), mask=mask,
                       embedding=torch.ones(n, 4, 2, 2), **v2)


def test_story_scores_leave_images_without_an_auroc_out_of_the_mean():
    truth = {"subject": "cat", "family": "animal", "scenes": ["beach", "city", "snow"]}
    mask = torch.zeros(3, 4, 4)
    mask[0, :2, :2] = mask[1, 2:, 2:] = 1.0  # image 2: no subject
    maps = torch.zeros(3, 2, 2)
    maps[:, 0, 0] = 1.0  # every map points at the top-left cell
    rows, metrics = story_scores(predictions(mask), torch.full((3, len(SCENES)), 0.1), truth, method_maps=maps)
    # image 1: its 4 subject pixels score 0, below the top-left cell's 4 and tied with the 8 others
    assert [row["mask_auroc"] for row in rows] == [1.0, pytest.approx(8 * 4 * 0.5 / (4 * 12)), None]
    assert [row["mask_iou"] for row in rows] == [1.0, 0.0, 0.0]
    assert metrics["mask_auroc"] == pytest.approx((1 + 1 / 3) / 2) and metrics["mask_iou"] == pytest.approx(1 / 3)
    _, without = story_scores(predictions(mask), torch.full((3, len(SCENES)), 0.1), truth)
    assert not set(KEYS) & set(without)


# ---------------------------------------------------------------- through the bench's scorer


class Planted:
    """An evaluator that reads `mask` (N, H, W) as every story's subject mask; world 2 has v2 heads."""

    def __init__(self, mask: torch.Tensor, world: int):
        self.mask, self.world = mask, world
        self.cfg = EvaluatorConfig.for_world(world)

    def predict(self, images):
        assert len(images) == len(self.mask)
        return predictions(self.mask, self.world)

    def predict_background(self, images, masks):
        return torch.full((len(images), len(SCENES)), 1.0 / len(SCENES))


STORY = {"id": "cat", "subject": "a cat", "tokens": ["cat"], "category": "animal", "style": "",
         "scenes": ["on a beach", "in a city", "in snow"],
         "truth": {"subject": "cat", "family": "animal", "scenes": ["beach", "city", "snow"]}}


def saved_masks(result) -> torch.Tensor:
    """(N, H, W) in {0, 1}: the masks the run saves (subject 0 of each image)."""
    return torch.stack([torch.tensor(np.asarray(per[0]), dtype=torch.float32) / 255 for per in result.masks])


@pytest.mark.parametrize("world", [1, 2])
def test_a_consistory_story_is_located_per_image_and_per_story(consistory_base, world):
    """The maps reaching the scorer are those the saved masks are the Otsu masks of: an evaluator that
    sees exactly the saved masks scores AUROC 1 and IoU 1 on every image, one that sees their inverse 0."""
    result, _ = consistory_base
    assert result.maps.shape[:2] == (3, 1)
    for mask, expected in ((saved_masks(result), 1.0), (1 - saved_masks(result), 0.0)):
        rows, metrics = score_unit([SynthWorldScorer(Planted(mask, world))], STORY, result)
        assert [(row["mask_auroc"], row["mask_iou"]) for row in rows] == [(expected, expected)] * 3
        assert metrics["mask_auroc"] == expected and metrics["mask_iou"] == expected
    assert ("mask_on_props" in metrics) == (world == 2)  # the v2 metric beside them, from the PIL masks


def test_a_vanilla_story_gets_no_localisation(runs):
    result, _ = runs("sd", "vanilla")
    assert result.maps is None and result.masks is None
    rows, metrics = score_unit([SynthWorldScorer(Planted(torch.ones(3, 32, 32).tril(), 1))], STORY, result)
    assert not set(KEYS) & (set(metrics) | {key for row in rows for key in row})
    assert "presence" in metrics


def test_a_story_made_anchors_first_carries_the_maps_of_every_image(runs):
    from svdstory import Story
    from svdstory.generate import run_story

    story = Story("a cat", tuple(STORY["scenes"]))
    result = run_story(runs.model("sd"), story, "consistory", BASE_OPTIONS, runs.sampling(BASE_STEPS),
                       anchors_first=True, anchor_batch=2)
    assert result.maps.shape[:2] == (3, 1)
    rows, _ = score_unit([SynthWorldScorer(Planted(saved_masks(result), 1))], STORY, result)
    assert [row["mask_iou"] for row in rows] == [1.0] * 3
