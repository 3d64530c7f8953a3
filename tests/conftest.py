"""Shared fixtures: the tiny SD and SDXL models and one ConsiStory run, each built once per session."""
import os

import numpy as np
import pytest
import torch

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
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: F401

    diffusers.utils.logging.get_verbosity()
    transformers.utils.logging.get_verbosity()


_settle_library_logging()

SIZE = 32  # pixels: a 16x16 latent for the tiny VAE (factor 2), attention grids 16x16 and 8x8
# A short ConsiStory run in which every mechanism acts: with 5 steps SDSA starts at step 1 (masks
# exist), injection covers steps 0-1 and query mixing (widened from the first 10%) steps 1-2.
BASE_OPTIONS = {"query_mix_until": 0.5}
BASE_STEPS = 5


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


def sampling(steps=4, seed=0, **kw):
    from svdstory import SamplingConfig

    return SamplingConfig(steps=steps, guidance=5.0, height=SIZE, width=SIZE, seed=seed, **kw)


@pytest.fixture(scope="session")
def core():
    """Helpers for the core tests (a fixture, since test modules should not import conftest)."""

    class Helpers:
        Recorder = Recorder
        pixels = staticmethod(pixels)
        sampling = staticmethod(sampling)
        size = SIZE
        base_options = BASE_OPTIONS
        base_steps = BASE_STEPS

    return Helpers


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
def models(sd_model, sdxl_model):
    return {"sd": sd_model, "sdxl": sdxl_model}


@pytest.fixture(scope="session")
def base_story():
    from svdstory import Story

    return Story("a cat", ("on a beach", "in a city", "in snow"))


@pytest.fixture(scope="session")
def consistory_base(sd_model, base_story):
    """(result, recorder) of ConsiStory on the tiny SD model: 3 images, 2 anchors + 1 extra."""
    from svdstory import generate

    rec = Recorder()
    result = generate(sd_model, base_story, "consistory", BASE_OPTIONS, sampling(BASE_STEPS), callback=rec)
    return result, rec


class MethodRuns:
    """Method runs on the tiny models, memoised: tests that compare methods share their reference runs.

    A test that checks determinism must call generate() itself (with `sampling(size)`) for its second run.
    """

    steps = 3  # the mask-free and prompt-side methods act from step 0: three steps show every mechanism

    def __init__(self, request, story):
        self.request, self.story, self.done = request, story, {}

    def sampling(self, size=SIZE):
        from svdstory import SamplingConfig

        return SamplingConfig(steps=self.steps, guidance=5.0, height=size, width=size, seed=0)

    def model(self, kind):
        return self.request.getfixturevalue(f"{kind}_model")

    def __call__(self, kind, method, options=None, size=SIZE, story=None):
        """(result, final latents) of `method` on the tiny `kind` ("sd" or "sdxl") model."""
        from svdstory import generate

        story, options = story or self.story, dict(options or {})
        key = (kind, method, tuple(sorted(options.items())), size, story)
        if key not in self.done:
            rec = Recorder()
            result = generate(self.model(kind), story, method, options, self.sampling(size), callback=rec)
            self.done[key] = (result, rec.final)
        return self.done[key]


@pytest.fixture(scope="session")
def method_run(request, base_story):
    return MethodRuns(request, base_story)
