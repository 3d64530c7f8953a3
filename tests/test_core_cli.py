"""The `svdstory` command line end to end on the tiny model: files, run.json, anchors-first, story files."""
import json
from dataclasses import asdict

import numpy as np
import pytest
from PIL import Image

from cli_run import run_cli
from svdstory.cli import main
from svdstory.methods.configs import ConsiStoryConfig

BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "3", "--height", "32", "--width", "32",
        "--method", "consistory"]
SCENES = ["--subject", "a cat", "--scene", "on a beach", "--scene", "in a city", "--scene", "in snow"]


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """One CLI run of three scenes in one batch (shared by the tests below)."""
    out = tmp_path_factory.mktemp("cli") / "batch"
    argv = BASE + SCENES + ["--seed", "4", "--set", "mask_dropout=0.25", "--out", str(out)]
    code = main(argv)
    return code, out, argv


def test_generate_writes_images_grid_masks_and_run_json(batch_run):
    code, out, argv = batch_run
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    expected = [f"image_{i:02d}.png" for i in range(3)] + [f"mask_{i:02d}_subject0.png" for i in range(3)]
    assert names == sorted(expected + ["grid.png", "masks.png", "run.json"])
    assert Image.open(out / "image_00.png").size == (32, 32)
    grid = png(out / "grid.png")
    assert grid.shape[:2] == (32, 96)
    assert (grid[:, 32:64] == png(out / "image_01.png")).all()
    assert set(np.unique(png(out / "mask_00_subject0.png"))) <= {0, 255}

    run = json.loads((out / "run.json").read_text())
    config = json.loads(json.dumps(asdict(ConsiStoryConfig(mask_dropout=0.25))))
    assert run["method"] == "consistory" and run["config"] == config
    assert run["seeds"] == [4, 5, 6]
    assert run["prompts"] == ["a cat on a beach", "a cat in a city", "a cat in snow"]
    assert run["model"] == "tiny"
    assert run["sampling"]["steps"] == 3 and run["sampling"]["height"] == 32
    assert run["versions"]["torch"] and run["versions"]["diffusers"] and run["versions"]["python"]
    assert run["command"] == ["svdstory", *argv]
    assert set(run["files"]) == set(names) - {"run.json"}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_anchors_first_gives_the_same_story(batch_run, tmp_path, capsys):
    _, batch_out, argv = batch_run
    out = tmp_path / "anchors"
    code, stdout, _ = run_cli(BASE + SCENES + ["--seed", "4", "--set", "mask_dropout=0.25", "--anchors-first",
                                               "--out", str(out)], capsys)
    assert code == 0 and "wrote 3 images" in stdout
    for i in range(3):  # smaller UNet batches agree to float rounding (see test_core_anchors)
        assert abs(png(out / f"image_{i:02d}.png") - png(batch_out / f"image_{i:02d}.png")).max() <= 1
    assert (out / "mask_02_subject0.png").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["anchors_first"] is True and run["seeds"] == [4, 5, 6]
    assert list(run["story"]["scenes"]) == ["on a beach", "in a city", "in snow"]


def test_story_file(tmp_path, capsys):
    story = tmp_path / "story.yaml"
    story.write_text("subject: a red bus\nstyle: a watercolor painting of\ntokens: bus\n"
                     "scenes:\n  - in a city\n  - at night\nseeds: [5, 9]\n")
    out = tmp_path / "out"
    code, _, err = run_cli(BASE + ["--story", str(story), "--method", "vanilla", "--out", str(out)], capsys)
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    style = "a watercolor painting of a red bus"
    assert run["prompts"] == [f"{style} in a city", f"{style} at night"]
    assert run["seeds"] == [5, 9] and run["method"] == "vanilla"
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "image_00.png", "image_01.png", "run.json"]


def test_story_file_fields_yield_to_the_command_line(tmp_path, capsys):
    story = tmp_path / "story.yaml"
    story.write_text("subject: a red bus\nscenes: [in a city]\n")
    out = tmp_path / "out"
    code, _, err = run_cli(BASE + ["--story", str(story), "--subject", "a blue bus", "--method", "vanilla",
                                   "--steps", "1", "--out", str(out)], capsys)
    assert code == 0, err
    assert json.loads((out / "run.json").read_text())["prompts"] == ["a blue bus in a city"]


def test_methods_lists_methods_and_their_options(capsys):
    code, stdout, _ = run_cli(["methods"], capsys)
    assert code == 0
    assert "vanilla:" in stdout and "consistory:" in stdout
    assert "    mask_dropout=0.5  [float]\n        probability of hiding a shared subject token" in stdout
    assert "    cache_device=same  [str]  (one of: same, cpu)" in stdout


def test_output_folder_is_as_readable_as_its_files(batch_run):
    _, out, _ = batch_run
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}


def test_seeds_negative_prompt_freeu_and_the_default_method(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a for a in BASE if a not in ("--method", "consistory")] + SCENES + [
        "--seeds", "7,3,11", "--negative-prompt", "a dog", "--freeu", "--out", str(out)]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "svd"
    assert run["seeds"] == [7, 3, 11] and run["story"]["seeds"] == [7, 3, 11]
    assert run["sampling"]["negative_prompt"] == "a dog"
    assert run["sampling"]["freeu"] == [0.6, 0.4, 1.1, 1.2]  # ConsiStory's SDXL release


def test_negative_prompt_in_a_story_file_yields_to_the_command_line(tmp_path, capsys):
    story = tmp_path / "story.yaml"
    story.write_text("subject: a cat\nscenes: [in a city]\nnegative_prompt: a dog\n")
    runs = {}
    for name, extra in (("file", []), ("cli", ["--negative-prompt", "a fox"])):
        out = tmp_path / name
        code, _, err = run_cli(BASE + ["--story", str(story), "--steps", "1", "--method", "vanilla",
                                       "--freeu", "0.9,0.2,1.3,1.4", "--out", str(out)] + extra, capsys)
        assert code == 0, err
        runs[name] = json.loads((out / "run.json").read_text())["sampling"]
    assert runs["file"]["negative_prompt"] == "a dog" and runs["cli"]["negative_prompt"] == "a fox"
    assert runs["file"]["freeu"] == [0.9, 0.2, 1.3, 1.4]


@pytest.mark.slow
def test_a_run_without_a_terminal_writes_nothing_to_stderr(tmp_path):
    """No progress bar, loading bar or library warning when output is not a terminal."""
    import subprocess
    import sys

    argv = [a for a in BASE if a not in ("--method", "consistory")] + SCENES[:6] + ["--out", str(tmp_path / "o")]
    done = subprocess.run([sys.executable, "-m", "svdstory", *argv], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("wrote 2 images")


def test_the_progress_bar_has_a_total_and_an_eta_on_a_terminal(monkeypatch):
    import io
    import time

    from svdstory.progress import TerminalBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    bar = TerminalBar("svd: 3 images")
    for done in range(4):
        time.sleep(0.11)  # tqdm redraws at most every 0.1 s
        bar(done, 3)
    bar.close()
    assert "| 2/3 [" in screen.getvalue() and "<00:00" in screen.getvalue()  # tqdm's [elapsed<remaining]
    log = io.StringIO()  # not a terminal: quiet
    monkeypatch.setattr("sys.stderr", log)
    quiet = TerminalBar("svd")
    quiet(0, 3)
    quiet(3, 3)
    quiet.close()
    assert log.getvalue() == ""
