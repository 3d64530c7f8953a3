"""Every user error: exit code 2, one line naming the input, no traceback, nothing written."""
import pytest
import torch

from svdstory.cli import main

BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "1", "--height", "32", "--width", "32"]
CAT = ["--subject", "a cat", "--scene", "on a beach"]


def fails(argv, capsys, tmp_path, *names):
    """Run the CLI expecting a user error; the out folder must not appear and stderr is one line."""
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("svdstory: error: ") and "Traceback" not in captured.err
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no out folder, no staging folder
    return lines[0]


@pytest.fixture
def out(tmp_path):
    return ["--out", str(tmp_path / "out")]


def test_subject_token_absent_from_a_prompt(capsys, tmp_path, out):
    fails(BASE + CAT + ["--token", "dog"] + out, capsys, tmp_path, "'dog'", "'a cat on a beach'")


def test_empty_scene_list(capsys, tmp_path, out):
    fails(BASE + ["--subject", "a cat"] + out, capsys, tmp_path, "--scene")
    story = tmp_path / "story.yaml"
    story.write_text("subject: a cat\nscenes: []\n")
    fails(BASE + ["--story", str(story)] + out, capsys, tmp_path, "no scenes")


def test_unknown_method(capsys, tmp_path, out):
    fails(BASE + CAT + ["--method", "magic"] + out, capsys, tmp_path, "'magic'", "consistory")


@pytest.mark.parametrize("argv,names", [
    (["--set", "colour=red"], ["'colour'"]),
    (["--bogus-flag", "1"], ["--bogus-flag"]),
    (["--set", "mask_dropout"], ["'mask_dropout'"]),
])
def test_unknown_option(capsys, tmp_path, out, argv, names):
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


@pytest.mark.parametrize("argv,names", [
    (["--set", "mask_dropout=1.5"], ["mask_dropout", "1.5"]),
    (["--set", "n_anchors=two"], ["n_anchors", "'two'"]),
    (["--set", "sdsa=maybe"], ["sdsa", "'maybe'"]),
    (["--set", "sdsa_steps=0.8,0.2"], ["sdsa_steps"]),
    (["--set", "prepass_steps=0"], ["prepass_steps", "0"]),
    (["--set", "scheduler=euler"], ["'euler'"]),
    (["--steps", "0"], ["--steps", "0"]),
    (["--dtype", "int8"], ["--dtype", "'int8'"]),
    (["--device", "tpu"], ["--device", "'tpu'"]),
])
def test_bad_option_value(capsys, tmp_path, out, argv, names):
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


def test_size_not_divisible_by_the_models_factor(capsys, tmp_path, out, sd_model):
    factor = sd_model.vae_factor
    assert factor == 2  # the tiny VAE has two blocks: one 2x downsampling
    bad = 32 + factor // 2
    fails(BASE + CAT + ["--height", str(bad)] + out, capsys, tmp_path, f"--height {bad}", f"factor {factor}")
    fails(BASE + CAT + ["--width", str(bad)] + out, capsys, tmp_path, f"--width {bad}")


def test_model_path_that_is_missing(capsys, tmp_path, out):
    missing = str(tmp_path / "no-such-model")
    fails(BASE + CAT + out + ["--model", missing], capsys, tmp_path, repr(missing))


def test_folder_that_is_not_a_diffusers_model(capsys, tmp_path, out):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0")
    fails(BASE + CAT + out + ["--model", str(folder)], capsys, tmp_path, repr(str(folder)), "model_index.json")


@pytest.mark.parametrize("text", ["subject: [a cat\nscenes: x\n", "- just\n- a list\n", "subject: a cat\nscene: [x]\n"])
def test_story_file_that_does_not_parse(capsys, tmp_path, out, text):
    story = tmp_path / "story.yaml"
    story.write_text(text)
    fails(BASE + ["--story", str(story)] + out, capsys, tmp_path, repr(str(story)))


def test_story_file_that_is_missing(capsys, tmp_path, out):
    fails(BASE + ["--story", str(tmp_path / "nope.yaml")] + out, capsys, tmp_path, "nope.yaml")


@pytest.mark.parametrize("anchors_first", [False, True])
def test_out_of_gpu_memory(capsys, tmp_path, out, monkeypatch, anchors_first):
    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("svdstory.context.denoise", no_memory)
    argv = BASE + CAT + ["--scene", "in snow", "--scene", "at night"] + (["--anchors-first"] if anchors_first else [])
    line = fails(argv + out, capsys, tmp_path, "out of GPU memory", "fewer", "--anchors-first", "offload")
    assert "CUDA out of memory" not in line


def test_out_folder_that_already_holds_a_run(capsys, tmp_path):
    folder = tmp_path / "previous"
    folder.mkdir()
    (folder / "run.json").write_text('{"old": true}\n')
    (folder / "image_00.png").write_bytes(b"old")
    fails(BASE + CAT + ["--out", str(folder)], capsys, tmp_path, repr(str(folder)), "already holds a run")
    assert sorted(p.name for p in folder.iterdir()) == ["image_00.png", "run.json"]
    assert (folder / "run.json").read_text() == '{"old": true}\n'
    assert (folder / "image_00.png").read_bytes() == b"old"


def test_out_path_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    fails(BASE + CAT + ["--out", str(target)], capsys, tmp_path, repr(str(target)))
