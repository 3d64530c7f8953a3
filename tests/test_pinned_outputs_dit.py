"""Pinned outputs on the DiTs: the final latents of short runs of every method on the tiny FLUX.1 and SD3.5
pipelines, as tests/test_pinned_outputs.py pins them on SD and SDXL.

When a change is meant to alter the images, write the pins again and say why in the commit:
SVDSTORY_PIN=write .venv/bin/python -m pytest tests/test_pinned_outputs_dit.py
"""
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pinned import TOLERANCE, final_latents

PINS = Path(__file__).parent / "data" / "pinned" / "dit_latents.safetensors"
# name -> (method, options, anchors + extras): every method at options where each of its mechanisms acts
CASES = {
    "vanilla": ("vanilla", {}, False),
    "consistory": ("consistory", {"query_mix_until": 0.5}, False),
    "consistory-extras": ("consistory", {"query_mix_until": 0.5}, True),
    "shared": ("shared", {}, False),
    "svd": ("svd", {}, False),
    "svd-extras": ("svd", {}, True),
    "svd-hidden": ("svd", {"target": "hidden", "zero": "rank:2"}, False),
    "svd-attn": ("svd", {"target": "attn"}, False),
    "storydiffusion": ("storydiffusion", {}, False),
    "1p1s": ("1p1s", {}, False),
}
KINDS = ("flux", "sd3")


@pytest.fixture(scope="module")
def current(runs):
    return {f"{kind}/{name}": final_latents(runs.model(kind), *case).contiguous()
            for kind in KINDS for name, case in CASES.items()}


def test_every_method_reproduces_its_pinned_latents_on_the_dits(current):
    if os.environ.get("SVDSTORY_PIN") == "write":
        PINS.parent.mkdir(parents=True, exist_ok=True)
        save_file(current, str(PINS))
    pinned = load_file(str(PINS))
    assert sorted(pinned) == sorted(current)
    for key, latents in current.items():
        torch.testing.assert_close(latents, pinned[key], **TOLERANCE, msg=lambda m, key=key: f"{key}: {m}")


def test_the_dit_pins_tell_the_methods_apart(current):
    """A pin that every method would meet guards nothing."""
    for kind in KINDS:
        vanilla = current[f"{kind}/vanilla"]
        for name in CASES:
            if name != "vanilla" and not name.endswith("-extras"):
                assert not torch.allclose(current[f"{kind}/{name}"], vanilla, **TOLERANCE), f"{kind}/{name}"
