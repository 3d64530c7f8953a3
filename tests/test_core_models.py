"""Loading a diffusers folder: a saved tiny pipeline loads back and generates the same images."""
import json

import pytest
import torch

from svdstory import Story, generate, load_model
from svdstory.errors import SvdStoryError
from svdstory.models import resolve_device, resolve_dtype


@pytest.fixture(scope="module", params=["sd", "sdxl"])
def saved(request, models, tmp_path_factory):
    model = models[request.param]
    folder = tmp_path_factory.mktemp(f"saved-{request.param}")
    model.pipe.save_pretrained(folder)
    return model, folder


def test_a_saved_folder_loads_back_as_the_same_model(saved, runs):
    model, folder = saved
    loaded = load_model(str(folder), device="cpu")
    assert loaded.is_sdxl == model.is_sdxl and type(loaded.pipe) is type(model.pipe)
    assert loaded.source == str(folder) and loaded.vae_factor == model.vae_factor
    assert loaded.dtype == torch.float32 and loaded.defaults == {}
    assert type(loaded.pipe.scheduler).__name__ == "DDIMScheduler"
    story = Story("a red bus", ("in a city", "at night"))
    ours = generate(loaded, story, "vanilla", sampling=runs.sampling(2))
    reference = generate(model, story, "vanilla", sampling=runs.sampling(2))
    assert (runs.pixels(ours.images) == runs.pixels(reference.images)).all()
    assert ours.info["model"] == str(folder)


def test_defaults_shipped_with_a_folder_are_used(saved):
    model, folder = saved
    (folder / "svdstory.json").write_text(json.dumps({"steps": 1, "guidance": 1.0}))
    try:
        loaded = load_model(str(folder), device="cpu")
        result = generate(loaded, Story("a cat", ("in snow",)), "vanilla")
    finally:
        (folder / "svdstory.json").unlink()
    size = model.pipe.unet.config.sample_size * model.vae_factor
    assert result.info["sampling"]["steps"] == 1 and result.info["sampling"]["guidance"] == 1.0
    assert result.images[0].size == (size, size)


def test_device_and_dtype_names():
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16 and resolve_dtype(None, "cpu") == torch.float32
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(SvdStoryError, match="'fp8'"):
        resolve_dtype("fp8", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SvdStoryError, match="'cuda:1'"):
            resolve_device("cuda:1")


def test_a_saved_folder_loads_in_the_requested_dtype(saved):
    _, folder = saved
    loaded = load_model(str(folder), device="cpu", dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16 and loaded.pipe.vae.dtype == torch.bfloat16


def test_the_bundled_model_is_named_the_same_on_every_machine():
    """Runs and benches record "bundled:minisd", not this checkout's path, so they move between machines."""
    from svdstory.models import BUNDLED, BUNDLED_NAME, default_model_source, load_model, local_path

    if not (BUNDLED / "model_index.json").is_file():
        pytest.skip("no bundled model in this checkout")
    assert default_model_source() == BUNDLED_NAME and local_path(BUNDLED_NAME) == str(BUNDLED)
    model = load_model(device="cpu")
    assert model.source == BUNDLED_NAME and model.defaults.get("steps")
    assert load_model(BUNDLED_NAME, device="cpu").source == BUNDLED_NAME
