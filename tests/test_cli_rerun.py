"""`svdstory rerun RUN_DIR --out NEW`: the same images from run.json alone."""
import json

import numpy as np
import pytest
from PIL import Image

from svdstory.cli import main

BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "2", "--height", "32", "--width", "32",
        "--subject", "a cat", "--scene", "on a beach", "--scene", "in a city", "--scene", "in snow"]


def pixels(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("image_*.png"))]


@pytest.mark.parametrize("extra", [
    ["--method", "svd", "--seeds", "4,9,2", "--negative-prompt", "a dog", "--freeu", "--set", "zero=rank:2"],
    ["--method", "consistory", "--anchors-first", "--seed", "5", "--set", "mask_dropout=0.2"],
])
def test_rerun_gives_the_same_images(tmp_path, extra):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(BASE + extra + ["--out", str(first)]) == 0
    assert main(["rerun", str(first), "--out", str(again)]) == 0
    a, b = pixels(first), pixels(again)
    assert len(a) == 3 and all(np.array_equal(x, y) for x, y in zip(a, b))
    old, new = (json.loads((f / "run.json").read_text()) for f in (first, again))
    for key in ("method", "config", "sampling", "story", "seeds", "prompts", "model", "anchors_first", "device"):
        assert old[key] == new[key], key
    assert new["rerun_of"] == str(first) and new["command"][:2] == ["svdstory", "rerun"]


@pytest.mark.parametrize("content,names", [
    (None, ["holds no run.json"]),
    ("{not json", ["does not parse"]),
    ("[1, 2]", ["does not hold a run record"]),
    ('{"method": "svd"}', ["not a run record svdstory can repeat"]),
])
def test_bad_run_dir(tmp_path, capsys, content, names):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if content is not None:
        (run_dir / "run.json").write_text(content)
    code = main(["rerun", str(run_dir), "--out", str(tmp_path / "new")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("svdstory: error: ")
    assert all(name in err[0] for name in names) and not (tmp_path / "new").exists()


def test_rerun_of_a_folder_that_does_not_exist(tmp_path, capsys):
    assert main(["rerun", str(tmp_path / "nope"), "--out", str(tmp_path / "new")]) == 2
    assert "is not a folder" in capsys.readouterr().err
