"""Every user error: exit code 2, one line naming the input, no traceback, nothing written."""
import json
import os

import pytest
import torch

from svdstory.cli import main
from svdstory.models import BUNDLED

BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "1", "--height", "32", "--width", "32",
        "--method", "consistory"]
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
@pytest.mark.parametrize("error,words", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "out of GPU memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: can't allocate memory: you tried "
                  "to allocate 21474836480 bytes. Error code 12 (Cannot allocate memory)"), "out of memory"),
])
def test_out_of_memory(capsys, tmp_path, out, monkeypatch, anchors_first, error, words):
    def no_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr("svdstory.sampling.denoise", no_memory)
    argv = BASE + CAT + ["--scene", "in snow", "--scene", "at night"] + (["--anchors-first"] if anchors_first else [])
    line = fails(argv + out, capsys, tmp_path, words, "fewer", "--anchors-first", "offload")
    assert str(error)[:20] not in line


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


@pytest.fixture
def no_model_load(monkeypatch):
    """Checks that need no model must fail before one loads."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("svdstory.models.load_model", refuse)


@pytest.mark.parametrize("text,names", [
    ("subject: a cat\nscenes: in a city\n", ["scenes", "'in a city'"]),  # a string is not one scene per character
    ("subject: a cat\nscenes: 5\n", ["scenes", "5"]),
    ("subject: a cat\nscenes: [on a beach, 5]\n", ["scenes", "5"]),
    ("subject: a cat\nscenes: [on a beach, '']\n", ["scenes", "''"]),
    ("subject: a cat\nscenes: [on a beach]\nseeds: [a, b]\n", ["seeds", "'a'"]),
    ("subject: a cat\nscenes: [on a beach]\nseeds: 3\n", ["seeds"]),
    ("subject: a cat\nscenes: [on a beach]\nseeds: [1.5]\n", ["seeds", "1.5"]),
    ("subject: a cat\nscenes: [on a beach]\nseeds: [-1]\n", ["seed", "-1"]),
    ("subject: 5\nscenes: [on a beach]\n", ["subject", "5"]),
    ("subject: a cat\nscenes: [on a beach]\ntokens: [1]\n", ["tokens", "1"]),
    ("subject: a cat\nscenes: [on a beach]\nstyle: [a, b]\n", ["style"]),
    ("subject: a cat\nscenes: [on a beach]\nnegative_prompt: 3\n", ["negative_prompt", "3"]),
])
def test_story_file_with_a_field_of_the_wrong_type(capsys, tmp_path, out, text, names, no_model_load):
    story = tmp_path / "story.yaml"
    story.write_text(text)
    fails(BASE + ["--story", str(story)] + out, capsys, tmp_path, repr(str(story)), *names)


def test_story_that_names_a_folder(capsys, tmp_path, out):
    fails(BASE + ["--story", str(tmp_path)] + out, capsys, tmp_path, repr(str(tmp_path)), "is a folder")


def test_out_folder_that_cannot_be_written(capsys, tmp_path, no_model_load):
    if os.geteuid() == 0:  # root writes through permission bits: use a place no one can create folders in
        target = "/proc/svdstory-out/run"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = str(locked / "run")
    fails(BASE + CAT + ["--out", target], capsys, tmp_path, repr(target), "cannot be written")


@pytest.mark.parametrize("argv,names", [
    (["--seed", "99999999999999999999"], ["--seed", "99999999999999999999", "18446744073709551615"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--seed", str(2**64 - 1), "--scene", "in snow"], ["seed", str(2**64 - 1), "last image"]),  # seed + 1 overflows
    (["--seeds", "1,2"], ["--seeds", "2 seeds", "1 scene"]),
    (["--seeds", "1,x"], ["--seeds", "'1,x'"]),
])
def test_seeds_outside_what_generators_accept(capsys, tmp_path, out, argv, names, no_model_load):
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


def test_world_render_and_generate_agree_on_negative_seeds(capsys, tmp_path):
    fails(["world", "render", "--n", "1", "--seed", "-1", "--out", str(tmp_path / "w")], capsys, tmp_path,
          "--seed", "-1")
    fails(["world", "render", "--n", "2", "--seed", str(2**64 - 1), "--out", str(tmp_path / "w")], capsys,
          tmp_path, "seed")


@pytest.mark.parametrize("argv,names", [
    (["--guidance", "nan"], ["--guidance", "nan"]),
    (["--guidance", "inf"], ["--guidance", "inf"]),
    (["--set", "mask_dropout=nan"], ["mask_dropout", "nan"]),
    (["--set", "dift_timestep=-inf"], ["dift_timestep", "-inf"]),
    (["--set", "injection_steps=0,nan"], ["injection_steps", "nan"]),
    (["--freeu", "0.6,0.4,nan,1.2"], ["--freeu", "nan"]),
])
def test_non_finite_numbers(capsys, tmp_path, out, argv, names, no_model_load):
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


@pytest.mark.parametrize("argv,names", [
    (["--guidance", "nan"], ["--guidance", "nan"]),
    (["--method", "consistory?dift_timestep=nan"], ["dift_timestep", "nan"]),
])
def test_non_finite_numbers_in_the_bench(capsys, tmp_path, argv, names):
    bench = ["bench", "--suite", "synthworld:2", "--model", "tiny", "--metrics", "none", "--out", str(tmp_path / "b")]
    fails(bench + (["--method", "vanilla"] if argv[0] != "--method" else []) + argv, capsys, tmp_path, *names)


def test_non_finite_attribute_rate_in_world_render(capsys, tmp_path):
    fails(["world", "render", "--attribute-rate", "nan", "--out", str(tmp_path / "w")], capsys, tmp_path,
          "--attribute-rate", "nan")


def test_json_never_holds_nan(tmp_path):
    from svdstory.output import atomic_write_json

    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"guidance": float("nan")})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scene", ["", "   "])
def test_empty_scene(capsys, tmp_path, out, scene, no_model_load):
    fails(BASE + CAT + ["--scene", scene] + out, capsys, tmp_path, "scene 2", "empty")


def test_prompt_longer_than_the_text_encoders_context(capsys, tmp_path, out, no_model_load):
    style = "a big red watercolor painting of a big red big red big red big red big red"
    line = fails(BASE + CAT + ["--style", style] + out, capsys, tmp_path, f"'{style} a cat on a beach'", "24")
    assert "25 tokens" in line


def test_one_prompt_of_1p1s_longer_than_the_context(capsys, tmp_path, out, no_model_load):
    scenes = ["on a beach", "in a city", "in snow", "at night", "in a forest", "in a desert"]
    argv = BASE + ["--subject", "a cat", "--method", "1p1s"] + [a for s in scenes for a in ("--scene", s)] + out
    fails(argv, capsys, tmp_path, "'a cat, on a beach, in a city, in snow, at night, in a forest, in a desert'", "24")


def test_hub_model_neither_cached_nor_downloadable(capsys, tmp_path, out, monkeypatch, no_model_load):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    fails(BASE + CAT + out + ["--model", "svdstory-tests/no-such-model"], capsys, tmp_path,
          "'svdstory-tests/no-such-model'", "neither a local folder nor in the local Hugging Face cache",
          "cannot be downloaded")


def test_checks_on_the_bundled_model_run_before_it_loads(capsys, tmp_path, out, no_model_load):
    """The bundled folder's tokenizer and VAE config are read alone."""
    base = [a for a in BASE if a not in ("--model", "tiny")]
    fails(base + CAT + ["--token", "dog"] + out, capsys, tmp_path, "'dog'", "'a cat on a beach'")
    factor = 2 ** (len(json.loads((BUNDLED / "vae" / "config.json").read_text())["block_out_channels"]) - 1)
    fails(base + CAT + ["--height", str(8 * factor + 1)] + out, capsys, tmp_path, f"factor {factor}")


def test_bench_suite_of_no_stories(capsys, tmp_path):
    fails(["bench", "--suite", "synthworld:0", "--method", "vanilla", "--out", str(tmp_path / "b")], capsys,
          tmp_path, "--suite", "synthworld:0")


@pytest.mark.parametrize("argv,names", [
    (["--steps", "1000"], ["--steps 1000", "1000 training timesteps", "at most 999"]),  # DDIM's offset: IndexError
    (["--steps", "100000"], ["--steps 100000", "at most 999"]),  # over the training timesteps: diffusers' ValueError
    (["--height", "66"], ["--height 66", "over 64", "32 px"]),  # the tiny model's own side is 32 px
    (["--width", "4096"], ["--width 4096", "over 64"]),
])
def test_numbers_past_what_the_model_allows(capsys, tmp_path, out, argv, names, no_model_load):
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


def test_consistorys_prepass_steps_past_the_scheduler(capsys, tmp_path, out):
    fails(BASE + CAT + ["--set", "prepass_steps=5000"] + out, capsys, tmp_path, "prepass_steps 5000", "at most 999")


def test_the_bundled_models_steps_and_size_are_checked_before_it_loads(capsys, tmp_path, out, no_model_load):
    base = [a for a in BASE if a not in ("--model", "tiny")]
    fails(base + CAT + ["--steps", "1000"] + out, capsys, tmp_path, "--steps 1000", "at most 999")
    side = json.loads((BUNDLED / "unet" / "config.json").read_text())["sample_size"] * 4
    fails(base + CAT + ["--height", str(4 * side)] + out, capsys, tmp_path, f"over {2 * side}")


def test_steps_and_size_are_checked_on_a_loaded_model(sd_model):
    """The library's path (no preflight): resolve_sampling refuses them before any work."""
    from svdstory import SamplingConfig
    from svdstory.errors import SvdStoryError
    from svdstory.resolve import resolve_sampling

    with pytest.raises(SvdStoryError, match="--steps 1000 .* at most 999"):
        resolve_sampling(sd_model, SamplingConfig(steps=1000))
    with pytest.raises(SvdStoryError, match="--width 128 is over 64"):
        resolve_sampling(sd_model, SamplingConfig(width=128))
    assert resolve_sampling(sd_model, SamplingConfig(steps=999, height=64, width=64)).steps == 999


def damaged_model(tmp_path, name: str, content: bytes):
    """The bundled model with one file replaced (the others linked, not copied)."""
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(BUNDLED, folder, copy_function=os.symlink)
    (folder / name).unlink()
    (folder / name).write_bytes(content)
    return str(folder)


@pytest.mark.parametrize("name,content,names", [
    ("model_index.json", b'{"_class_name": "StableDiff', ["model_index.json", "not valid JSON"]),
    ("model_index.json", b"[1, 2]", ["model_index.json", "JSON object"]),
    ("svdstory.json", b"steps: 25", ["svdstory.json", "not valid JSON"]),
    ("unet/config.json", b"{", ["could not be loaded", "not a valid JSON file"]),
    ("text_encoder/model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{", ["could not be loaded"]),
    ("unet/diffusion_pytorch_model.safetensors", b"\x00" * 16, ["could not be loaded"]),
])
def test_a_model_file_that_is_damaged(capsys, tmp_path, name, content, names):
    folder = damaged_model(tmp_path, name, content)
    argv = [a for a in BASE if a not in ("--model", "tiny")] + CAT + ["--model", folder, "--out", str(tmp_path / "o")]
    fails(argv, capsys, tmp_path, repr(folder), *names)


def full_disk(monkeypatch, after: int):
    """PNG writes that fail as on a full disk once `after` files are written, the failing one half written."""
    import errno

    from PIL import Image

    written = []
    save = Image.Image.save

    def save_or_fail(image, path, *args, **kwargs):
        if len(written) >= after:
            with open(path, "wb") as f:
                f.write(b"\x89PNG half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        return save(image, path, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_or_fail)


@pytest.mark.parametrize("after", [0, 3])  # the first image; the first mask, after the images and the grid
def test_a_full_disk_while_writing_the_run(capsys, tmp_path, out, monkeypatch, after):
    full_disk(monkeypatch, after)
    fails(BASE + CAT + ["--scene", "in snow"] + out, capsys, tmp_path, "--out", "could not be written",
          "No space left on device")


def test_a_full_disk_while_rendering_world_samples(capsys, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    calls = []
    write_bytes = Path.write_bytes

    def fill_up(path, data):
        calls.append(path)
        if len(calls) > 3:  # the second sample's mask, half written
            write_bytes(path, data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", fill_up)
    fails(["world", "render", "--n", "3", "--size", "64", "--out", str(tmp_path / "w")], capsys, tmp_path,
          "--out", "could not be written", "No space left on device")


@pytest.mark.parametrize("where", ["svdstory.sampling.denoise", "svdstory.output.atomic_write_json"])
def test_ctrl_c_stops_with_one_line_exit_130_and_nothing_written(capsys, tmp_path, out, monkeypatch, where):
    """Ctrl-C in the sampler, or while the run's files are being written: the run is dropped whole."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, interrupted)
    assert main(BASE + CAT + out) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("svdstory: interrupted") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,names", [
    (["--seed", "5", "--seeds", "1"], ["--seed 5", "--seeds", "give one"]),
    (["--negative-prompt", "a dog", "--guidance", "1"], ["negative prompt", "--guidance 1", "turns it off"]),
])
def test_two_inputs_that_disagree(capsys, tmp_path, out, argv, names, no_model_load):
    """Neither is dropped unseen: the run is refused, naming both."""
    fails(BASE + CAT + argv + out, capsys, tmp_path, *names)


def test_a_seed_beside_a_story_files_seeds(capsys, tmp_path, out, no_model_load):
    story = tmp_path / "story.yaml"
    story.write_text("subject: a cat\nscenes: [on a beach]\nseeds: [7]\n")
    fails(BASE + ["--story", str(story), "--seed", "3"] + out, capsys, tmp_path, "--seed 3", repr(str(story)))


@pytest.mark.parametrize("argv,names", [(["--steps", "1000"], ["--steps 1000"]), (["--size", "128"], ["--size 128"])])
def test_bench_steps_and_size_past_what_the_model_allows(capsys, tmp_path, argv, names, no_model_load):
    bench = ["bench", "--suite", "synthworld:1", "--model", "tiny", "--metrics", "none", "--method", "vanilla",
             "--out", str(tmp_path / "b")]
    fails(bench + argv, capsys, tmp_path, *names)  # before bench.json claims the folder


def test_bench_folder_whose_bench_json_is_damaged(capsys, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "bench.json").write_text('{"fingerprint": {"suite"')
    bench = ["bench", "--suite", "synthworld:1", "--model", "tiny", "--metrics", "none", "--method", "vanilla",
             "--out", str(folder)]
    fails(bench, capsys, tmp_path, repr(str(folder)), "bench.json is damaged")
    assert [p.name for p in folder.iterdir()] == ["bench.json"]
