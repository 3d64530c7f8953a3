"""Metric math on hand-made tensors and images; the feature scorer with fake and tiny real embedders."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.eval.feature_scorer import FeatureScorer
from svdstory.eval.masking import remove_background, union_mask
from svdstory.eval.metrics import MetricConfig, parse_metrics
from svdstory.eval.segment import pick_subject
from svdstory.eval.similarity import cosine_matrix, mean_to_others, paired_cosine, pairwise_mean


def test_cosines_of_hand_made_vectors():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    sims = cosine_matrix(a, a)
    assert torch.allclose(sims.diagonal(), torch.ones(3))
    assert sims[0, 1].abs() < 1e-6 and math.isclose(float(sims[0, 2]), 1 / math.sqrt(2), rel_tol=1e-6)
    # pairs: (0,1)=0, (0,2)=(1,2)=1/sqrt2 -> mean 2/(3 sqrt2); per row: mean to the two others
    assert math.isclose(pairwise_mean(a), 2 / (3 * math.sqrt(2)), rel_tol=1e-6)
    expected = torch.tensor([0.5 / math.sqrt(2), 0.5 / math.sqrt(2), 1 / math.sqrt(2)])
    assert torch.allclose(mean_to_others(a), expected, atol=1e-6)
    assert torch.allclose(paired_cosine(a, torch.tensor([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])),
                          torch.tensor([1.0, 0.0, -1.0]), atol=1e-6)
    assert math.isnan(pairwise_mean(a[:1]))


def test_background_removal_keeps_only_the_subject():
    img = Image.new("RGB", (4, 4), (10, 20, 30))
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    out = np.asarray(remove_background(img, mask, fill=(255, 0, 0)))
    assert (out[1:3, 1:3] == (10, 20, 30)).all()
    assert (out[0] == (255, 0, 0)).all() and (out[:, 3] == (255, 0, 0)).all()
    # an empty mask leaves the image whole rather than making it a flat (perfectly "consistent") picture
    assert (np.asarray(remove_background(img, np.zeros((4, 4), bool))) == (10, 20, 30)).all()


def test_union_mask_resizes_and_merges_subjects():
    left = Image.fromarray(np.array([[255, 0], [255, 0]], dtype=np.uint8), mode="L")  # 2x2, left column
    top = np.array([[True, True], [False, False]])
    merged = union_mask([left, top], (4, 4))
    assert merged.shape == (4, 4)
    assert merged[:, :2].all() and merged[:2].all() and not merged[2:, 2:].any()


def colour_embedder():
    """Image -> its mean RGB; text -> a fixed vector per prompt length parity (deterministic, inspectable)."""

    class Fake:
        calls = 0

        def images(self, images):
            Fake.calls += 1
            means = [np.asarray(im, dtype=np.float32).reshape(-1, 3).mean(0) for im in images]
            return torch.from_numpy(np.stack(means))

        def texts(self, texts):
            return torch.tensor([[255.0, 0.0, 0.0] if len(t) % 2 else [0.0, 0.0, 255.0] for t in texts])

    return Fake()


def two_tone(left, right, size=8):
    arr = np.zeros((size, size, 3), dtype=np.uint8)
    arr[:, : size // 2], arr[:, size // 2:] = left, right
    return Image.fromarray(arr)


STORY = {"id": "s", "subject": "a cat", "style": "", "tokens": ["cat"], "scenes": ["on a mat", "in a box"]}


def test_feature_scorer_on_hand_made_images():
    red, blue = (255, 0, 0), (0, 0, 255)
    images = [Image.new("RGB", (8, 8), red), Image.new("RGB", (8, 8), blue)]
    fake = colour_embedder()
    scorer = FeatureScorer(("clip-t", "clip-i", "dreamsim"), {"clip": fake, "dreamsim": fake})
    rows, metrics = scorer.score(STORY, images)
    # prompts "a cat on a mat" (14 chars, even -> blue text) and "a cat in a box" (14, even -> blue)
    assert [r["clip_t"] for r in rows] == pytest.approx([0.0, 1.0], abs=1e-6)
    assert metrics["clip_t"] == pytest.approx(0.5)
    assert metrics["clip_i"] == pytest.approx(0.0, abs=1e-6)  # red and blue are orthogonal
    assert metrics["dreamsim"] == pytest.approx(1.0)  # a distance: 1 - cosine
    assert fake.calls == 2  # clip image features computed once for clip-t and clip-i, once for dreamsim


def test_foreground_metrics_use_method_masks_or_a_segmenter():
    # same subject colour (green) on the left half, different backgrounds on the right half
    images = [two_tone((0, 255, 0), (255, 0, 0)), two_tone((0, 255, 0), (0, 0, 255))]
    left = np.zeros((8, 8), dtype=bool)
    left[:, :4] = True
    scorer = FeatureScorer(("clip-i", "clip-i-fg"), {"clip": colour_embedder()}, fill=(0, 0, 0))
    _, with_masks = scorer.score(STORY, images, masks=[[left], [left]])
    assert with_masks["clip_i_fg"] == pytest.approx(1.0)  # backgrounds gone: identical green subjects
    assert with_masks["clip_i"] < 0.9
    _, without = scorer.score(STORY, images, masks=None)
    assert without["clip_i_fg"] is None and without["clip_i"] == pytest.approx(with_masks["clip_i"])
    seen = []

    def segmenter(imgs, tokens):
        seen.append(tokens)
        return [[left] for _ in imgs]

    seg_scorer = FeatureScorer(("clip-i-fg",), {"clip": colour_embedder()}, segmenter=segmenter, fill=(0, 0, 0))
    _, from_segmenter = seg_scorer.score(STORY, images, masks=None)
    assert from_segmenter["clip_i_fg"] == pytest.approx(1.0) and seen == [["cat"]]


def test_segment_choice_prefers_the_subject_token_then_the_largest_thing():
    def seg(label, box):
        arr = np.zeros((4, 4), dtype=np.uint8)
        arr[box] = 255
        return {"label": label, "mask": Image.fromarray(arr, mode="L")}

    sky, dog, car = seg("sky", np.s_[:2, :]), seg("dog", np.s_[3, 3]), seg("car", np.s_[2:, :2])
    assert pick_subject([sky, dog, car], ["dog"], (4, 4)).sum() == 1
    assert pick_subject([sky, car], ["cat"], (4, 4)).sum() == 4  # no "cat": the car, not the (larger) sky
    assert pick_subject([sky], ["cat"], (4, 4)).sum() == 0


def test_metric_lists():
    assert parse_metrics("auto", synthworld_suite=True) == ("synthworld",)
    assert "clip-t" in parse_metrics("auto", synthworld_suite=False)
    assert parse_metrics("none", False) == ()
    assert parse_metrics("clip-t,dreamsim-fg", False) == ("clip-t", "dreamsim-fg")
    with pytest.raises(SvdStoryError, match="unknown metric 'clip-x'"):
        parse_metrics("clip-t,clip-x", False)
    described = MetricConfig(("clip-t", "dino-fg"), clip_model="c", dino_model="d").describe()
    assert described == {"metrics": ["clip-t", "dino-fg"], "clip_model": "c", "dino_model": "d", "fg_masks": "method"}


def test_tiny_transformers_clip_and_dino_load_from_a_folder(tmp_path):
    from svdstory.eval.embedders import HFClip, HFVision
    from svdstory.eval.tiny_features import save_parts, tiny_clip_parts, tiny_dino_parts

    clip = HFClip(str(save_parts(tiny_clip_parts(), tmp_path / "clip")))
    dino = HFVision(str(save_parts(tiny_dino_parts(), tmp_path / "dino")))
    images = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0), (255, 0, 0))]
    feats = clip.images(images)
    assert feats.shape == (3, 8) and torch.allclose(feats[0], feats[2], atol=1e-5)
    assert clip.texts(["a cat", "a red bus on a beach"]).shape == (2, 8)
    assert dino.images(images).shape == (3, 16)
    rows, metrics = FeatureScorer(("clip-t", "clip-i", "dino"), {"clip": clip, "dino": dino}).score(
        {**STORY, "scenes": ["a", "b", "c"]}, images)
    assert len(rows) == 3 and all(-1.0 <= metrics[k] <= 1.0 for k in ("clip_t", "clip_i", "dino"))
    with pytest.raises(SvdStoryError, match="--clip-model"):
        HFClip(str(tmp_path / "missing"))


def test_open_clip_embedder_wiring_with_injected_parts():
    from svdstory.eval.embedders import OpenClip

    class Model(torch.nn.Module):
        def encode_image(self, batch):
            return batch.mean(dim=(2, 3))  # (n, 3)

        def encode_text(self, tokens):
            return tokens.float()

    preprocess = lambda im: torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1)
    tokenizer = lambda texts: torch.tensor([[len(t), 1.0, 0.0] for t in texts])
    emb = OpenClip("open_clip:fake", model=Model(), preprocess=preprocess, tokenizer=tokenizer)
    feats = emb.images([Image.new("RGB", (4, 4), (0, 0, 255))])
    assert torch.allclose(feats, torch.tensor([[0.0, 0.0, 255.0]]))
    assert emb.texts(["ab", "abc"])[:, 0].tolist() == [2.0, 3.0]


def test_optional_packages_fail_clearly():
    try:
        import dreamsim  # noqa: F401
    except ImportError:
        from svdstory.eval.embedders import DreamSim

        with pytest.raises(SvdStoryError, match="real-metrics"):
            DreamSim()


@pytest.mark.parametrize("bias, covered", [((0.0, 20.0), True), ((20.0, 0.0), False)])
def test_segmenter_pipeline_from_a_folder(tmp_path, bias, covered):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    from svdstory.eval.segment import Segmenter

    config = SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], patch_sizes=[3],
                             strides=[2], num_attention_heads=[1], mlp_ratios=[2], decoder_hidden_size=8,
                             num_labels=2, id2label={0: "background", 1: "cat"}, label2id={"background": 0, "cat": 1})
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():  # the bias decides every pixel: all "cat" or all "background"
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(tmp_path)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    masks = Segmenter(str(tmp_path))([Image.new("RGB", (40, 24), (200, 10, 10))], ["cat"])
    assert len(masks) == 1 and masks[0][0].shape == (24, 40)
    assert masks[0][0].all() if covered else not masks[0][0].any()
