"""FLUX.1 and SD3 behind the backbone seam: vanilla gives diffusers' own pipelines' images, bit for bit, and
whatever does not run on them yet says so in one line."""
from dataclasses import replace

import pytest
import torch
from cases import BACKBONE, RUNS_ON
from cli_run import run_cli

from svdstory import Story, generate, generate_anchors, load_model
from svdstory.backbones.mmdit import pack, unpack
from svdstory.errors import SvdStoryError
from svdstory.preflight import read_model_files
from svdstory.sampling import initial_latents

STORY = Story("a cat", ("on a beach", "in a city"))


def _stock(model, runs, seeds, steps, guidance, flux: bool, **kwargs):
    """diffusers' own pipeline from our initial noise: (PIL images, final latents in image layout)."""
    noise = initial_latents(model, seeds, runs.size, runs.size)
    latents = pack(noise) if flux else noise
    call = dict(prompt=STORY.prompts, latents=latents, num_inference_steps=steps, guidance_scale=guidance,
                height=runs.size, width=runs.size, max_sequence_length=model.backbone.text_len, **kwargs)
    images = model.pipe(**call, output_type="pil").images
    final = model.pipe(**call, output_type="latent").images
    return images, unpack(final, *noise.shape[-2:]) if flux else final


def _ours(model, runs, steps, guidance, **kwargs):
    rec = runs.Recorder()
    sampling = replace(runs.sampling(steps=steps, **kwargs), guidance=guidance)
    return generate(model, STORY, "vanilla", sampling=sampling, callback=rec), rec.final


@pytest.mark.parametrize("kind, steps, guidance", [("flux", 3, 3.5), ("flux_schnell", 2, 0.0), ("sd3", 3, 5.0),
                                                   ("sd3", 2, 1.0)])
def test_vanilla_is_pixel_equal_to_the_diffusers_pipeline(runs, kind, steps, guidance):
    model = runs.model(kind)
    ours, final = _ours(model, runs, steps, guidance)
    images, stock_final = _stock(model, runs, ours.seeds, steps, guidance, kind.startswith("flux"))
    assert torch.equal(final, stock_final)
    assert abs(runs.pixels(ours.images) - runs.pixels(images)).max() == 0


def test_sd3_takes_a_negative_prompt_as_its_pipeline_does(sd3_model, runs):
    ours, _ = _ours(sd3_model, runs, 2, 5.0, negative_prompt="snow")
    images, _ = _stock(sd3_model, runs, ours.seeds, 2, 5.0, False, negative_prompt=["snow"] * 2)
    assert abs(runs.pixels(ours.images) - runs.pixels(images)).max() == 0
    plain, _ = _ours(sd3_model, runs, 2, 5.0)
    assert abs(runs.pixels(plain.images) - runs.pixels(images)).max() > 0  # the comparison can tell


def test_flux_dev_reads_the_guidance_embedding_and_schnell_has_none(flux_model, flux_schnell_model, runs):
    assert flux_model.backbone.defaults == {"steps": 28, "guidance": 3.5}
    assert flux_schnell_model.backbone.defaults == {"steps": 4, "guidance": 0.0}
    low, high = _ours(flux_model, runs, 2, 1.5)[1], _ours(flux_model, runs, 2, 4.0)[1]
    assert not torch.equal(low, high)
    assert torch.equal(_ours(flux_schnell_model, runs, 2, 1.5)[1], _ours(flux_schnell_model, runs, 2, 4.0)[1])


def test_packing_is_a_permutation_that_unpacks_exactly():
    latents = torch.randn(2, 4, 6, 8)
    tokens = pack(latents)
    assert tokens.shape == (2, 12, 16) and torch.equal(unpack(tokens, 6, 8), latents)
    assert torch.equal(tokens[0, 1].view(4, 2, 2), latents[0, :, 0:2, 2:4])  # token 1: rows 0-1, columns 2-3


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_a_saved_folder_loads_through_the_same_path(runs, tmp_path, kind):
    model = runs.model(kind)
    model.pipe.save_pretrained(tmp_path)
    files = read_model_files(str(tmp_path))  # what the command line checks before the weights load
    assert files.backbone == model.backbone.name and len(files.tokenizers) == len(model.backbone.tokenizers)
    loaded = load_model(str(tmp_path), device="cpu")
    assert type(loaded.pipe) is type(model.pipe) and loaded.backbone.name == model.backbone.name
    ours, _ = _ours(loaded, runs, 2, 3.5)
    reference, _ = _ours(model, runs, 2, 3.5)
    assert abs(runs.pixels(ours.images) - runs.pixels(reference.images)).max() == 0


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_a_method_that_does_not_run_on_a_backbone_says_so_in_one_line(runs, kind, unet_only):
    for run in (generate, generate_anchors):
        with pytest.raises(SvdStoryError, match=rf"method 'unet-only' does not run on {kind} models yet "
                                                r"\(it runs on: unet\)"):
            run(runs.model(kind), STORY, unet_only, sampling=runs.sampling(steps=1))


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_what_a_dit_does_not_take_fails_in_one_line(runs, kind):
    model = runs.model(kind)
    with pytest.raises(SvdStoryError, match="--height 30 is not divisible by the model's factor 4"):
        generate(model, STORY, "vanilla", sampling=runs.sampling(steps=1, size=30))
    with pytest.raises(SvdStoryError, match="--freeu applies to UNet decoders only"):
        generate(model, STORY, "vanilla", sampling=runs.sampling(steps=1, freeu=(0.6, 0.4, 1.1, 1.2)))
    with pytest.raises(SvdStoryError, match=f"scheduler 'ddim' is not offered on {kind} models"):
        generate(model, STORY, "vanilla", {"scheduler": "ddim"}, sampling=runs.sampling(steps=1))


def test_flux_refuses_a_negative_prompt(flux_model, runs):
    with pytest.raises(SvdStoryError, match="--negative-prompt is not yet supported on flux models"):
        generate(flux_model, STORY, "vanilla", sampling=runs.sampling(steps=1, negative_prompt="snow"))


def test_dit_sites_are_joint_attention_over_the_patch_grid(flux_model, sd3_model):
    flux = flux_model.backbone.sites()
    assert [(s.stage, s.depth, s.kind) for s in flux] == [("double", 0, "joint"), ("single", 0, "joint")]
    assert {s.grid((16, 16)) for s in flux} == {(8, 8)} and {s.text_len for s in flux} == {32}
    sd3 = sd3_model.backbone.sites()  # SD3.5's first block also has an image-only attention, attn2
    assert [(s.stage, s.depth, s.kind) for s in sd3] == [("joint", 0, "joint"), ("joint", 0, "self"),
                                                         ("joint", 1, "joint")]
    for model in (flux_model, sd3_model):
        assert {s.name for s in model.backbone.sites()} == set(model.pipe.transformer.attn_processors)


CLI = ["generate", "--device", "cpu", "--steps", "2", "--height", "32", "--width", "32", "--subject", "a cat",
       "--scene", "on a beach", "--scene", "in a city"]


@pytest.mark.parametrize("model", ["tiny-flux", "tiny-sd3"])
def test_the_command_line_runs_vanilla_on_a_dit_and_refuses_other_methods_before_loading(
        model, tmp_path, capsys, monkeypatch, unet_only):
    code, _, err = run_cli(CLI + ["--model", model, "--method", "vanilla", "--out", str(tmp_path / "ok")], capsys)
    assert code == 0, err
    assert (tmp_path / "ok" / "image_01.png").is_file()
    import svdstory.models

    monkeypatch.setattr(svdstory.models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, _, err = run_cli(CLI + ["--model", model, "--method", unet_only, "--out", str(tmp_path / "no")], capsys)
    name = model.removeprefix("tiny-")
    assert code == 2 and err.strip().count("\n") == 0
    assert f"method 'unet-only' does not run on {name} models yet (it runs on: unet)" in err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("model", ["tiny-flux", "tiny-sd3"])
def test_the_command_line_runs_every_method_on_a_dit_and_names_a_size_it_refuses(model, tmp_path, capsys):
    code, _, err = run_cli(CLI + ["--model", model, "--method", "consistory", "--out", str(tmp_path / "ok")], capsys)
    assert code == 0, err
    assert (tmp_path / "ok" / "mask_01_subject0.png").is_file()
    size = list(CLI)
    size[size.index("--height") + 1] = "30"
    code, _, err = run_cli(size + ["--model", model, "--method", "svd", "--out", str(tmp_path / "no")], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "Traceback" not in err
    assert "--height 30 is not divisible by the model's factor 4" in err
    assert not (tmp_path / "no").exists()


def test_methods_lists_the_backbones_each_method_runs_on(capsys):
    code, stdout, _ = run_cli(["methods"], capsys)
    assert code == 0
    lines = stdout.splitlines()
    runs_on = {line.split(":")[0]: lines[i + 1].strip() for i, line in enumerate(lines) if not line.startswith(" ")}
    assert set(runs_on) >= {"vanilla", "svd", "consistory", "shared", "storydiffusion", "1p1s"}
    for name, kinds in RUNS_ON.items():  # the table the contract tests run
        assert runs_on[name] == "runs on: " + ", ".join(BACKBONE[kind] for kind in kinds)
