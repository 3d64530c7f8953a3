"""Inversion: the path of latents along which the model's own sampler would generate a given image.

The image is encoded by the VAE, then each sampler step is run backwards from the clean latents to the noise
(`Backbone.invert_step`: DDIM inversion on a UNet, its flow-matching counterpart on FLUX and SD3). Regenerating
from the noise end of the path gives the image back up to the inversion's error: `reconstruct`, `psnr`.
"""
from __future__ import annotations

import numpy as np
import torch

from .attention.policy import PlainPolicy
from .backbones.base import guided
from .sampling import Resume, decode, denoise, encode_prompts
from .state import RunState


def to_pixels(images, device, dtype) -> torch.Tensor:
    """PIL RGB images of one size to (n, 3, H, W) in [-1, 1]."""
    arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) for image in images])  # (n, H, W, 3)
    return (torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1).to(device, dtype)


def encode(model, images) -> torch.Tensor:
    """PIL images to the latents (n, C, h, w) the sampler ends at."""
    return model.backbone.encode_images(to_pixels(images, model.device, model.dtype))


def scheduler_for(model, kind: str | None, steps: int, latent_hw: tuple[int, int]):
    scheduler = model.backbone.scheduler(None if kind in (None, "default") else kind)
    model.backbone.set_timesteps(scheduler, steps, latent_hw)
    return scheduler


def invert(model, latents: torch.Tensor, prompt: str, steps: int, guidance: float, kind: str | None = None,
           callback=None) -> torch.Tensor:
    """The path (steps, n, C, h, w): entry i is the latents sampler step i starts from, under `prompt` and
    `guidance` (1 or less: the prompt alone), on the sampler of `kind` (a method's `scheduler` option).
    `callback(info)` runs after every inverted step, as the sampler's does."""
    backbone, n = model.backbone, latents.shape[0]
    cond = encode_prompts(model, [prompt] * n, guidance)
    scheduler = scheduler_for(model, kind, steps, tuple(latents.shape[-2:]))
    state = RunState(cond.layout, steps, tuple(latents.shape[-2:]))
    path, x = [None] * steps, latents
    with torch.no_grad(), backbone.attention(PlainPolicy(), state):
        for i in reversed(range(steps)):
            t = scheduler.timesteps[i]
            state.step, state.timestep = i, int(t)
            noise = backbone.predict(backbone.model_input(x, cond.layout, scheduler, t.cpu()), t, cond, guidance)
            x = backbone.invert_step(scheduler, i, x, guided(noise, cond.layout, guidance))
            path[i] = x
            if callback is not None:
                callback({"i": i, "t": int(t), "x": x, "state": state, "scheduler": scheduler})
    return torch.stack(path)


def reconstruct(model, path: torch.Tensor, prompt: str, guidance: float, kind: str | None = None) -> torch.Tensor:
    """The latents the sampler gives from the noise end of `path` (path[0]) under the prompt it was inverted with."""
    n, steps = path.shape[1], path.shape[0]
    cond = encode_prompts(model, [prompt] * n, guidance)
    scheduler = scheduler_for(model, kind, steps, tuple(path.shape[-2:]))
    state = RunState(cond.layout, steps, tuple(path.shape[-2:]))
    return denoise(model, PlainPolicy(), state, path[0], cond, scheduler, guidance, resume=Resume(0, path[0], scheduler))


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB of two PIL images of one size (8-bit RGB)."""
    x, y = (np.asarray(img.convert("RGB"), dtype=np.float64) for img in (a, b))
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def reconstruction_psnr(model, image, prompt: str, steps: int, guidance: float = 1.0, kind: str | None = None) -> dict:
    """How well the inversion holds, in dB: the image regenerated from its inverted path against `image`
    (`inverted`); the VAE's own round trip against `image` (`vae`, the ceiling of `inverted`); and the regenerated
    image against that round trip (`path`, the error of the inversion alone)."""
    latents = encode(model, [image])
    round_trip = decode(model, latents)[0]
    path = invert(model, latents, prompt, steps, guidance, kind)
    again = decode(model, reconstruct(model, path, prompt, guidance, kind))[0]
    return {"inverted": psnr(image, again), "vae": psnr(image, round_trip), "path": psnr(round_trip, again),
            "steps": steps, "guidance": guidance}
