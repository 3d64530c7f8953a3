"""`svdstory world info` and `svdstory world render`, through argparse as the main CLI will call them."""

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.world import SUBJECTS, Labels, render
from svdstory.world.cli import add_world_commands


def _run(argv):
    parser = argparse.ArgumentParser(prog="svdstory")
    add_world_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_render_writes_images_masks_and_labels(tmp_path):
    out = tmp_path / "samples"
    assert _run(["world", "render", "--out", str(out), "--n", "3", "--seed", "5", "--size", "64",
                 "--subject", "giraffe", "--scene", "snow"]) == 0
    records = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in records] == [5, 6, 7]
    for r in records:
        labels = Labels.from_dict(r["labels"])
        assert (labels.subject, labels.scene) == ("giraffe", "snow") and "giraffe" in r["caption"]
        image = np.asarray(Image.open(out / r["image"]))
        mask = np.asarray(Image.open(out / r["mask"])) > 0
        expected_image, expected_mask = render(labels, size=64, seed=r["seed"])
        assert np.array_equal(image, expected_image) and np.array_equal(mask, expected_mask)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_info_prints_json_and_a_table(capsys):
    assert _run(["world", "info", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["families"]) == {"animal", "object"}
    assert _run(["world", "info"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in SUBJECTS) and "mountain" in table
    assert "world v2" in table and "twilight" in table and "placement" in table and "beside" in table


@pytest.mark.parametrize("extra, word", [
    (["--subject", "dragon"], "dragon"), (["--scene", "mars"], "mars"), (["--n", "0"], "--n"),
    (["--size", "72"], "72"), (["--size", "32"], "32"),
])
def test_render_rejects_bad_values(tmp_path, extra, word):
    with pytest.raises(SvdStoryError, match=word):
        _run(["world", "render", "--out", str(tmp_path), *extra])
