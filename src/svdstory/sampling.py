"""The denoising loop: explicit step index, one RunState, a callback per step (no pipeline __call__).

The loop knows no network: it asks the model's backbone (`backbones/`) for the batch, the prediction, the
scheduler and the attention processors.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .attention.install import forward_hooks
from .backbones.base import guided
from .config import SCHEDULERS
from .errors import SvdStoryError
from .preflight import check_size
from .profiling import DECODE, region
from .state import BatchLayout, Pass, RunState


@dataclass
class Conditioning:
    """Text conditioning for the whole network batch, in [uncond..., cond...] order when guided."""

    embeds: torch.Tensor  # (chunks*n, L, D)
    added: dict | None  # pooled embeddings (SDXL's text_embeds, a DiT's pooled projections), batched the same way
    layout: BatchLayout


def encode_prompts(model, prompts: list[str], guidance: float, negative: str | None = None) -> Conditioning:
    """The prompts encoded as the model's own pipeline encodes them (its backbone decides how)."""
    return model.backbone.encode(prompts, guidance, negative)


@dataclass
class Resume:
    """A run paused at the start of `step`, to continue from there instead of from the initial noise."""

    step: int  # the first step still to run
    latents: torch.Tensor  # (n, C, h, w) the sampler's latents at that step (init_noise_sigma applied)
    scheduler: object  # the scheduler as it was then (multistep schedulers keep a history)
    policy: object = None  # what the attention policy carries over from earlier steps (opaque to the loop)


def initial_latents(model, seeds: list[int], height: int, width: int, same: bool = False) -> torch.Tensor:
    """Per-image noise from per-image CPU generators: identical on every device and batch split."""
    check_size(model.backbone.size_factor, height, width)
    return model.backbone.initial_latents(seeds, height, width, same)  # (n, C, h, w)


def make_scheduler(model, kind: str | None):
    return model.backbone.scheduler(kind)


def scheduler_from(cls, config, kind: str | None):
    """A fresh scheduler of `kind` ("default": the checkpoint's own `cls`) from the checkpoint's scheduler config."""
    from diffusers import DDIMScheduler

    if kind in (None, "", "default"):
        return cls.from_config(config)
    if kind == "ddim":
        return DDIMScheduler.from_config(config)
    raise SvdStoryError(f"scheduler {kind!r} is not 'ddim' or 'default'")


def every_scheduler(cls, config) -> list:
    """One fresh scheduler of each kind a method may choose (config.SCHEDULERS), for limits that hold for all."""
    return [scheduler_from(cls, config, kind) for kind in SCHEDULERS]


def denoise(model, policy, state: RunState, latents: torch.Tensor, cond: Conditioning, scheduler, guidance: float,
            hooks=(), callback=None, resume: Resume | None = None, freeu=None, path=None) -> torch.Tensor:
    """Run the sampler over `scheduler.timesteps`, letting `policy` shape every attention call.

    With `resume`, the loop starts at `resume.step` from its latents and scheduler instead of `latents`, `scheduler`.
    `freeu`: FreeU's (s1, s2, b1, b2) for this run, or None. `path` (steps, n, C, h, w): the latents every step
    starts from, in place of those the step before gave (a photo's inverted path: the run reads the photo).
    """
    backbone, layout = model.backbone, cond.layout
    first = 0
    if path is not None and len(path) != len(scheduler.timesteps):
        raise SvdStoryError(f"the photo's inverted path has {len(path)} steps but this pass runs "
                            f"{len(scheduler.timesteps)}")
    if resume is None:
        latents = backbone.start(latents, scheduler)
    else:  # a copy of its scheduler, so that the resume stays reusable
        first, latents, scheduler = resume.step, resume.latents, copy.deepcopy(resume.scheduler)
    with torch.no_grad(), backbone.attention(policy, state), forward_hooks(hooks), backbone.freeu(freeu):
        # The scheduler works on host copies of the timesteps and the network on the device's, so that no
        # step has to read a number back from the GPU: the host can queue work steps ahead of it.
        on_host = scheduler.timesteps.cpu()
        for i in range(first, len(on_host)):
            if state.stop_at is not None and i >= state.stop_at:
                break
            t = on_host[i]
            if path is not None:
                latents = path[i]
            state.step, state.timestep = i, int(t)
            model_in = backbone.model_input(latents, layout, scheduler, t)
            policy.begin_step(state)
            for network_pass, blocks in backbone.passes(policy.passes(state), policy.encoder_alike(state)):
                state.network_pass = network_pass
                with blocks:
                    noise = backbone.predict(model_in, scheduler.timesteps[i], cond, guidance)
            state.network_pass = Pass.SAMPLE
            latents = scheduler.step(guided(noise, layout, guidance), t, latents).prev_sample
            policy.end_step(state)
            if callback is not None:
                callback({"i": i, "t": int(t), "x": latents, "state": state, "scheduler": scheduler})
    return latents


def decode(model, latents: torch.Tensor) -> list:
    """Latents (n, C, h, w) to PIL images."""
    with region(DECODE):
        return model.backbone.decode(latents)
