"""Pinned outputs on the DiTs: the final latents of short runs of every method on the tiny FLUX.1 and SD3.5
pipelines, as tests/test_pinned_outputs.py pins them on SD and SDXL.

When a change is meant to alter the images, write the pins again and say why in the commit:
SVDSTORY_PIN=write .venv/bin/python -m pytest tests/test_pinned_outputs_dit.py
"""
from pathlib import Path

import pytest

from pinned import check_apart, check_pins, final_latents

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
    check_pins(current, PINS)


def test_the_dit_pins_tell_the_methods_apart(current):
    """A pin that every method would meet guards nothing."""
    check_apart(current, KINDS, CASES)
