"""The SynthWorld evaluator's code: input handling, background filling, saving, the data stream (the
shipped network's accuracy: tests/test_shipped.py)."""

import numpy as np
import pytest
import torch
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS
from svdstory.world.data import StreamConfig, WorldStream, render_unit
from svdstory.mini.evaluator import Evaluator, EvaluatorConfig, EvaluatorNet, default_evaluator_path, fill_subject

TEST_STREAM = 424_242

@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    cfg = EvaluatorConfig.for_world(channels=(8, 8, 16, 16), blocks=(0, 1, 1, 1), decoder_channels=8, embed_dim=8)
    return Evaluator(EvaluatorNet(cfg), cfg)


def test_predictions_cover_every_head_at_input_resolution(small):
    images = torch.rand(3, 3, 96, 80)
    pred = small.predict(images)
    assert pred.subject.shape == (3, len(SUBJECTS)) and pred.scene.shape == (3, len(SCENES))
    assert set(pred.attributes) == set(ATTRIBUTES)
    for name, probs in pred.attributes.items():
        assert probs.shape == (3, len(ATTRIBUTES[name]))
    assert torch.allclose(pred.subject.sum(1), torch.ones(3), atol=1e-5)
    assert pred.mask.shape == (3, 96, 80) and 0 <= pred.mask.min() and pred.mask.max() <= 1
    norms = pred.embedding.norm(dim=1)
    assert pred.embedding.shape[:2] == (3, 8) and torch.allclose(norms, torch.ones_like(norms), atol=1e-4)


def test_pil_and_uint8_inputs_match_tensors(small):
    arrays = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(2)]
    tensor = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    a = small.predict([Image.fromarray(x) for x in arrays]).scene
    b = small.predict(arrays).scene
    c = small.predict(tensor).scene
    assert torch.allclose(a, c, atol=1e-5) and torch.allclose(b, c, atol=1e-5)


def test_bad_inputs_name_the_problem(small):
    with pytest.raises(SvdStoryError, match="64"):
        small.predict(torch.rand(1, 3, 32, 32))
    with pytest.raises(SvdStoryError, match="masks"):
        small.predict_background(torch.rand(2, 3, 64, 64), torch.zeros(1, 64, 64))


def test_fill_subject_paints_the_grown_mask_with_the_background_mean():
    images = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    mask[0, 20:30, 20:30] = True
    filled = fill_subject(images, mask, grow=2)
    grown = torch.zeros(64, 64, dtype=torch.bool)
    grown[18:32, 18:32] = True
    mean = images[0][:, ~grown].mean(1)
    assert torch.allclose(filled[0][:, grown], mean[:, None].expand(3, int(grown.sum())), atol=1e-5)
    assert torch.equal(filled[0][:, ~grown], images[0][:, ~grown])


def test_save_load_round_trip(small, tmp_path):
    small.save(tmp_path)
    again = Evaluator.load(tmp_path)
    images = torch.rand(2, 3, 64, 64)
    assert again.cfg == small.cfg
    assert torch.allclose(again.predict(images).subject, small.predict(images).subject, atol=2e-2)


def test_stream_groups_share_identity_and_workers_never_repeat():
    cfg = StreamConfig(seed=TEST_STREAM, size=64, group=2)
    unit = render_unit(cfg, 3)
    assert unit[0]["identity"] == unit[1]["identity"] and not torch.equal(unit[0]["image"], unit[1]["image"])
    assert torch.equal(render_unit(cfg, 3)[0]["image"], unit[0]["image"])  # deterministic in the seed
    loader = torch.utils.data.DataLoader(WorldStream(cfg), batch_size=4, num_workers=2)
    batches = [b for _, b in zip(range(2), loader)]
    images = torch.cat([b["image"] for b in batches]).flatten(1)
    assert len({tuple(row[::97].tolist()) for row in images}) == 8  # the two workers drew other seeds
    for b in batches:
        assert b["identity"][0] == b["identity"][1] and b["identity"][2] == b["identity"][3]


@pytest.mark.parametrize("name,content", [
    ("config.json", b'{"image_size": '),  # not JSON
    ("config.json", b'{"no_such_field": 1}'),  # a config of other fields
    ("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{"),  # damaged weights
])
def test_a_damaged_evaluator_folder_is_one_line(tmp_path, name, content):
    import shutil

    folder = tmp_path / "evaluator"
    shutil.copytree(default_evaluator_path(), folder)
    (folder / name).write_bytes(content)
    with pytest.raises(SvdStoryError, match="evaluator folder .* is damaged") as err:
        Evaluator.load(folder)
    assert "\n" not in str(err.value)
