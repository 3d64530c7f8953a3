"""Shared fixtures: the tiny SD and SDXL models and one ConsiStory run, each built once per session."""
import os

import numpy as np
import pytest
import torch
from cases import BASE_OPTIONS, BASE_STEPS, METHOD_STEPS

# Tiny models spend their time in many small kernels; on a shared 2-core runner one thread avoids the
# oversubscription that made single UNet calls 5-10x slower. SVDSTORY_TEST_THREADS overrides it.
torch.set_num_threads(int(os.environ.get("SVDSTORY_TEST_THREADS", "1")))


def _settle_library_logging():
    """Import the pipelines and create the libraries' log handlers now, outside any capsys test.

    Their handlers keep the stderr they were created with; made inside a capsys test they would write to
    a closed stream later, and import-time notices would land in whichever test imported first.
    """
    import diffusers
    import transformers
    from diffusers import (FluxPipeline, StableDiffusion3Pipeline, StableDiffusionPipeline,  # noqa: F401
                           StableDiffusionXLPipeline)

    diffusers.utils.logging.get_verbosity()
    transformers.utils.logging.get_verbosity()


_settle_library_logging()

SIZE = 32  # pixels: a 16x16 latent for the tiny VAE (factor 2), attention grids 16x16 and 8x8


class Recorder:
    """A generate() callback that keeps the latents after every sampler step."""

    def __init__(self):
        self.latents = []

    def __call__(self, info):
        self.latents.append(info["x"].detach().clone())

    @property
    def final(self) -> torch.Tensor:
        return self.latents[-1]


def pixels(images) -> np.ndarray:
    """PIL images -> (n, H, W, C) int arrays, so differences do not wrap around."""
    return np.stack([np.asarray(img, dtype=np.int16) for img in images])


def _tiny(name):
    from svdstory import load_model

    model = load_model(name, device="cpu")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def sd_model():
    return _tiny("tiny")


@pytest.fixture(scope="session")
def sdxl_model():
    return _tiny("tiny-sdxl")


@pytest.fixture(scope="session")
def flux_model():
    return _tiny("tiny-flux")


@pytest.fixture(scope="session")
def flux_schnell_model():
    return _tiny("tiny-flux-schnell")


@pytest.fixture(scope="session")
def sd3_model():
    return _tiny("tiny-sd3")


@pytest.fixture(scope="session")
def models(sd_model, sdxl_model):
    return {"sd": sd_model, "sdxl": sdxl_model}


@pytest.fixture(scope="session")
def base_story():
    from svdstory import Story

    return Story("a cat", ("on a beach", "in a city", "in snow"))


@pytest.fixture(scope="session")
def consistory_base(runs):
    """(result, recorder) of ConsiStory on the tiny SD model: 3 images, 2 anchors + 1 extra."""
    return runs.recorded("sd", "consistory", BASE_OPTIONS, steps=BASE_STEPS)


class Runs:
    """The tests' one helper set: sampling settings, a latents recorder, pixels, and method runs on the tiny
    models, memoised so that tests comparing methods share their reference runs.

    A test that checks determinism must call generate() itself (with `sampling(...)`) for its second run.
    """

    Recorder = Recorder
    pixels = staticmethod(pixels)
    size = SIZE
    base_options = BASE_OPTIONS  # ConsiStory with every mechanism acting in `base_steps` steps
    base_steps = BASE_STEPS
    method_steps = METHOD_STEPS

    def __init__(self, request, story):
        self.request, self.story, self.done = request, story, {}

    @staticmethod
    def sampling(steps=4, seed=0, size=SIZE, **kw):
        from svdstory import SamplingConfig

        return SamplingConfig(steps=steps, guidance=5.0, height=size, width=size, seed=seed, **kw)

    def model(self, kind):
        return self.request.getfixturevalue(f"{kind}_model")

    def __call__(self, kind, method, options=None, size=SIZE, story=None, steps=None):
        """(result, final latents) of `method` on the tiny `kind` model ("sd", "sdxl", "flux", "flux_schnell" or
        "sd3"), `method_steps` steps."""
        result, rec = self.recorded(kind, method, options, size, story, steps)
        return result, rec.final

    def recorded(self, kind, method, options=None, size=SIZE, story=None, steps=None):
        """(result, Recorder of every step's latents) of a run, memoised."""
        from svdstory import generate

        story, options, steps = story or self.story, dict(options or {}), steps or self.method_steps
        key = (kind, method, tuple(sorted(options.items())), size, story, steps)
        if key not in self.done:
            rec = Recorder()
            result = generate(self.model(kind), story, method, options, self.sampling(steps, size=size), callback=rec)
            self.done[key] = (result, rec)
        return self.done[key]

    def anchors_then_extras(self, method, options, steps, size=SIZE, n_anchors=2, kind="sd"):
        """(subject, more, anchors' final latents, extras' final latents): the story's first `n_anchors`
        scenes as anchors, then the others against their cache, on the tiny `kind` model; memoised."""
        from svdstory import generate_anchors, generate_more

        key = ("anchors+extras", kind, method, tuple(sorted(options.items())), steps, size, n_anchors)
        if key not in self.done:
            anchors_rec, extra_rec = Recorder(), Recorder()
            subject = generate_anchors(self.model(kind), self.story.with_scenes(self.story.scenes[:n_anchors]),
                                       method, options, self.sampling(steps, size=size), callback=anchors_rec)
            more = generate_more(subject, self.story.scenes[n_anchors:], callback=extra_rec)
            self.done[key] = (subject, more, anchors_rec.final, extra_rec.final)
        return self.done[key]


@pytest.fixture(scope="session")
def runs(request, base_story):
    return Runs(request, base_story)


@pytest.fixture
def tiny(monkeypatch, sd_model):
    """Every bench loads the session's tiny model instead of building its own."""
    import svdstory.models

    monkeypatch.setattr(svdstory.models, "load_model", lambda *a, **k: sd_model)
    return sd_model


@pytest.fixture
def unet_only():
    """A plug-in method that declares the UNet its only backbone."""
    from dataclasses import dataclass
    from typing import ClassVar

    from svdstory.methods import registry
    from svdstory.methods.configs import VanillaConfig

    @dataclass(frozen=True)
    class UNetOnlyConfig(VanillaConfig):
        backbones: ClassVar[tuple[str, ...]] = ("unet",)

    registry.register(registry.Method("unet-only", UNetOnlyConfig, registry.get_method("vanilla").run,
                                      run_anchors=lambda ctx, config: None))
    yield "unet-only"
    registry.unregister("unet-only")
