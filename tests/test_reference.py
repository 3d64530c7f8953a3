"""A story from a photo: the photo's inverted path is the anchor pass, the scenes are extras against it; the
command line takes it, run.json records it, rerun repeats it; a bad photo is one line, exit 2, nothing written."""
import json

import numpy as np
import pytest
from PIL import Image

from svdstory import Story, generate, generate_anchors, generate_more
from svdstory.cli import main
from svdstory.reference import Reference
from svdstory.world import sample

STORY = Story("a cat", ("in a forest", "in the snow"))
TAKES = ["consistory", "shared", "svd", "storydiffusion"]
OPTIONS = {"consistory": {"query_mix_until": 0.5}, "svd": {"zero": "rank:2"}}


def world_photo(seed, subject="cat", scene="beach"):
    return Image.fromarray(sample(seed, subject=subject, scene=scene, size=64).image)


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "cat.png"
    world_photo(3).save(path)
    return path


def pixels(images):
    return np.stack([np.asarray(img, dtype=np.int16) for img in images])


@pytest.mark.parametrize("method", TAKES)
def test_the_photo_is_the_anchor_the_scenes_share(runs, method):
    """Extras against a photo differ from extras against text anchors, and two photos give two stories."""
    model, sampling, options = runs.model("sd"), runs.sampling(steps=4), OPTIONS.get(method)
    text = generate_more(generate_anchors(model, STORY.with_scenes(["on a beach"]), method, options, sampling),
                         STORY.scenes, [0, 1])
    one, other = (generate(model, STORY, method, options, sampling, reference=Reference(world_photo(seed)))
                  for seed in (3, 8))
    assert one.seeds == text.seeds == [0, 1]
    assert np.abs(pixels(one.images) - pixels(text.images)).max() > 0
    assert np.abs(pixels(one.images) - pixels(other.images)).max() > 0
    assert one.photo.image.size == (64, 64) and one.photo.mask is None
    assert one.info["reference"]["prompt"] == "a photo of SUBJECT"


def test_the_anchor_pass_runs_along_the_photos_inverted_path(runs):
    """Every step of the anchor pass starts from the path's latents: its callbacks see the path, stepped."""
    from svdstory.inversion import encode, invert
    from svdstory.reference.photo import fit_photo

    model, sampling = runs.model("sd"), runs.sampling(steps=4)
    seen = []
    photo = world_photo(3)
    subject = generate_anchors(model, STORY, "shared", None, sampling,
                               lambda info: seen.append(info["x"].clone()), Reference(photo))
    latents = encode(model, [fit_photo(photo, 32, 32)])
    path = invert(model, latents, "a photo of a cat", 4, 1.0, "ddim")
    import torch

    assert torch.equal(torch.stack(seen[:4]), path.flip(0))  # the inversion's own callbacks, last step first
    assert subject.anchors.prompts == ["a photo of a cat"]


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_a_dit_takes_a_photo(runs, kind):
    model = runs.model(kind)
    text = generate(model, STORY, "shared", None, runs.sampling(steps=3))
    photo = generate(model, STORY, "shared", None, runs.sampling(steps=3), reference=Reference(world_photo(3)))
    assert np.abs(pixels(photo.images) - pixels(text.images)).max() > 0


BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "3", "--height", "32", "--width", "32",
        "--subject", "a cat", "--scene", "in a forest", "--scene", "in the snow"]


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("method", ["consistory", "svd"])
def test_rerun_repeats_a_photo_run_bit_for_bit(tmp_path, photo_file, method):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(BASE + ["--method", method, "--reference", str(photo_file), "--out", str(first)]) == 0
    assert main(["rerun", str(first), "--out", str(again)]) == 0
    for name in ("image_00.png", "image_01.png", "reference.png", "grid.png"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    record = json.loads((first / "run.json").read_text())
    assert record["reference"] == {"photo": "reference.png", "prompt": "a photo of SUBJECT", "guidance": 1.0}
    assert np.array_equal(np.asarray(Image.open(first / "reference.png")), np.asarray(Image.open(photo_file)))


def test_a_story_file_names_the_photo_beside_it(tmp_path, photo_file):
    (tmp_path / "cat.png").write_bytes(photo_file.read_bytes())
    (tmp_path / "story.yaml").write_text("subject: a cat\nscenes: [in a forest]\nreference: cat.png\n"
                                         "reference_prompt: a picture of SUBJECT\n")
    out = tmp_path / "out"
    args = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "2", "--story", str(tmp_path / "story.yaml")]
    assert main(args + ["--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["reference"]["prompt"] == "a picture of SUBJECT"


def _bad_photos(folder):
    """name -> (path, words the error must hold)."""
    grey16 = Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16))
    transparent = Image.new("RGBA", (32, 32), (200, 10, 10, 0))
    tiny = Image.new("RGB", (4, 4), (200, 10, 10))
    files = {"text.png": (b"not an image", "cannot be read as an image"), "grey16.png": (grey16, "not 8-bit"),
             "transparent.png": (transparent, "transparent pixels"), "tiny.png": (tiny, "too small"),
             "truncated.png": (None, "cannot be read as an image")}
    out = {}
    for name, (content, words) in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is None:
            world_photo(3).save(path)
            path.write_bytes(path.read_bytes()[:200])
        else:
            content.save(path)
        out[name] = (path, words)
    out["missing.png"] = (folder / "missing.png", "is not a file")
    return out


@pytest.mark.parametrize("name", ["text.png", "grey16.png", "transparent.png", "tiny.png", "truncated.png",
                                  "missing.png"])
def test_a_bad_photo_is_one_line_and_nothing_written(tmp_path, capsys, name):
    path, words = _bad_photos(tmp_path)[name]
    out = tmp_path / "out"
    code, err = run_cli(BASE + ["--reference", str(path), "--out", str(out)], capsys)
    assert code == 2 and len(err) == 1 and words in err[0] and str(path) in err[0], err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK"])
def test_photos_of_other_8_bit_modes_are_converted(tmp_path, mode):
    """Greyscale, palette, opaque RGBA and CMYK photos become RGB (docs/reference.md)."""
    from svdstory.reference import read_photo

    path = tmp_path / ("photo.jpg" if mode == "CMYK" else "photo.png")
    world_photo(3).convert(mode).save(path)
    photo = read_photo(Reference(path))
    assert photo.mode == "RGB" and photo.size == (64, 64)


@pytest.mark.parametrize("method", ["1p1s", "vanilla"])
def test_a_method_without_anchors_refuses_a_photo(tmp_path, capsys, photo_file, method):
    code, err = run_cli(BASE + ["--method", method, "--reference", str(photo_file), "--out", str(tmp_path / "o")],
                        capsys)
    assert code == 2 and len(err) == 1 and f"method {method!r} cannot take a reference photo" in err[0]


@pytest.mark.parametrize("extra,words", [
    (["--reference-prompt", "a photo of SUBJECT"], "--reference-prompt has no effect without --reference"),
    (["--reference", "PHOTO", "--anchors-first"], "--anchors-first has no effect with --reference"),
    (["--reference", "PHOTO", "--reference-prompt", "a photo of a dog"], "not found in prompt 'a photo of a dog'"),
])
def test_reference_options_that_cannot_act(tmp_path, capsys, photo_file, extra, words):
    extra = [str(photo_file) if x == "PHOTO" else x for x in extra]
    code, err = run_cli(BASE + extra + ["--out", str(tmp_path / "o")], capsys)
    assert code == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "o").exists()


def half_mask(path, left=True):
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, :32] = 255
    Image.fromarray(mask if left else 255 - mask).save(path)
    return path


@pytest.mark.parametrize("method", ["consistory", "shared"])
def test_a_subject_mask_limits_what_the_photo_shares(runs, tmp_path, method):
    model, sampling, options = runs.model("sd"), runs.sampling(steps=4), OPTIONS.get(method)
    photo = world_photo(3)
    whole, left, right = (generate(model, STORY, method, options, sampling, reference=Reference(photo, mask=mask))
                          for mask in (None, half_mask(tmp_path / "l.png"), half_mask(tmp_path / "r.png", False)))
    assert np.abs(pixels(whole.images) - pixels(left.images)).max() > 0
    assert np.abs(pixels(left.images) - pixels(right.images)).max() > 0
    assert left.info["reference"]["mask"] == "reference_mask.png"


def test_the_masked_recorder_keeps_the_tokens_on_the_mask():
    import torch

    from svdstory.reference.mask import MaskedRecorder

    mask = torch.zeros(32, 32)
    mask[:, :16] = 1  # the left half of a 32 px image: a 16x16 latent
    recorder = MaskedRecorder(mask, (16, 16))
    keys = torch.arange(64.).view(1, 1, 64, 1).expand(2, 4, 64, 1)  # an 8x8 layer, token index as the value
    recorder.record_kv("layer", (keys, keys, None))
    kept = recorder.cache.kv["layer"][0]
    assert kept.shape == (2, 4, 32, 1) and all(int(t) % 8 < 4 for t in kept[0, 0, :, 0])


def test_rerun_repeats_a_masked_photo_run(tmp_path, photo_file):
    first, again = tmp_path / "first", tmp_path / "again"
    mask = half_mask(tmp_path / "mask.png")
    assert main(BASE + ["--method", "svd", "--reference", str(photo_file), "--reference-mask", str(mask),
                        "--out", str(first)]) == 0
    assert main(["rerun", str(first), "--out", str(again)]) == 0
    for name in ("image_00.png", "image_01.png", "reference_mask.png"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


@pytest.mark.parametrize("mask,words", [("wrong-size", "is 32x32 pixels but the photo is 64x64"),
                                        ("black", "marks no pixel of the subject"),
                                        ("text", "cannot be read as an image")])
def test_a_bad_mask_is_one_line_and_nothing_written(tmp_path, capsys, photo_file, mask, words):
    path = tmp_path / "mask.png"
    if mask == "text":
        path.write_bytes(b"nope")
    else:
        Image.new("L", (32, 32) if mask == "wrong-size" else (64, 64), 0).save(path)
    out = tmp_path / "out"
    code, err = run_cli(BASE + ["--reference", str(photo_file), "--reference-mask", str(path), "--out", str(out)],
                        capsys)
    assert code == 2 and len(err) == 1 and words in err[0] and "--reference-mask" in err[0], err
    assert not out.exists()
