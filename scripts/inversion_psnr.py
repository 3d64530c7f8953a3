"""Reconstruction PSNR of inversion (issue 27): a world v2 render inverted along each model's own sampler (DDIM on
the UNets, flow matching on FLUX) under "a photo of a cat" at guidance 1, regenerated from the noise end of its
path, against the render (`inverted`), the VAE's round trip against the render (`vae`, the ceiling), and the
regenerated image against that round trip (`path`, the inversion's own error). The bundled mini model at 128 px;
the tiny SDXL and FLUX pipelines built in code (random weights) at 32 px.

  python scripts/inversion_psnr.py > runs/inversion_psnr.md
"""
from __future__ import annotations

import torch
from PIL import Image

from svdstory.inversion import reconstruction_psnr
from svdstory.models import load_model
from svdstory.world import sample

MODELS = ((None, "bundled mini model", 128), ("tiny-sdxl", "tiny SDXL (random weights)", 32),
          ("tiny-flux", "tiny FLUX.1-dev (random weights)", 32))
STEPS = (10, 25, 50)


def main() -> None:
    render = Image.fromarray(sample(3, subject="cat", scene="beach", size=128).image)
    print("| model | sampler | steps | inverted (dB) | vae (dB) | path (dB) |\n| --- | --- | --- | --- | --- | --- |")
    for source, name, side in MODELS:
        model = load_model(source, "cpu", "float32")
        kind = "ddim" if model.backbone.name == "unet" else None
        image = render.resize((side, side), Image.Resampling.LANCZOS)
        for steps in STEPS:
            r = reconstruction_psnr(model, image, "a photo of a cat", steps, 1.0, kind)
            print(f"| {name} | {kind or 'flow matching'} | {steps} | {r['inverted']:.2f} | {r['vae']:.2f} | "
                  f"{r['path']:.2f} |", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
