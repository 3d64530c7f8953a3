"""The denoising loop: explicit step index, one RunState, a callback per step (no pipeline __call__)."""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch

from .attention.install import forward_hooks, story_processors
from .config import SCHEDULERS
from .errors import SvdStoryError
from .preflight import check_size
from .profiling import DECODE, region
from .replay import passes_with_replay
from .state import BatchLayout, Pass, RunState


@dataclass
class Conditioning:
    """Text conditioning for the whole UNet batch, in [uncond..., cond...] order when guided."""

    embeds: torch.Tensor  # (chunks*n, L, D)
    added: dict | None  # SDXL's text_embeds / time_ids, batched the same way
    layout: BatchLayout


def encode_prompts(model, prompts: list[str], guidance: float, negative: str | None = None) -> Conditioning:
    """With no negative prompt the pipeline decides, as its own __call__ would: SDXL checkpoints whose config
    sets force_zeros_for_empty_prompt get zero unconditional embeddings, the others encode ""."""
    pipe, cfg = model.pipe, guidance > 1.0
    negatives = None if negative is None else [negative] * len(prompts)
    with torch.no_grad():
        if not model.is_sdxl:
            cond, uncond = pipe.encode_prompt(prompts, model.device, 1, cfg, negative_prompt=negatives)
            embeds = torch.cat([uncond, cond]) if cfg else cond
            return Conditioning(embeds, None, BatchLayout(len(prompts), cfg))
        cond, uncond, pooled, uncond_pooled = pipe.encode_prompt(
            prompts, device=model.device, num_images_per_prompt=1, do_classifier_free_guidance=cfg,
            negative_prompt=negatives)
    embeds = torch.cat([uncond, cond]) if cfg else cond
    text_embeds = torch.cat([uncond_pooled, pooled]) if cfg else pooled
    return Conditioning(embeds, {"text_embeds": text_embeds, "time_ids": None}, BatchLayout(len(prompts), cfg))


@dataclass
class Resume:
    """A run paused at the start of `step`, to continue from there instead of from the initial noise."""

    step: int  # the first step still to run
    latents: torch.Tensor  # (n, C, h, w) the sampler's latents at that step (init_noise_sigma applied)
    scheduler: object  # the scheduler as it was then (multistep schedulers keep a history)
    policy: object = None  # what the attention policy carries over from earlier steps (opaque to the loop)


def sdxl_time_ids(height: int, width: int, rows: int, dtype, device) -> torch.Tensor:
    """SDXL's micro-conditioning: original size, crop offset (0, 0), target size."""
    return torch.tensor([[height, width, 0, 0, height, width]] * rows, dtype=dtype, device=device)


def initial_latents(model, seeds: list[int], height: int, width: int, same: bool = False) -> torch.Tensor:
    """Per-image noise from per-image CPU generators: identical on every device and batch split."""
    factor = model.vae_factor
    check_size(factor, height, width)
    shape = (model.pipe.unet.config.in_channels, height // factor, width // factor)
    seeds = [seeds[0]] * len(seeds) if same else seeds
    noise = [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(s))) for s in seeds]
    return torch.stack(noise).to(model.device, model.dtype)  # (n, C, h, w)


def make_scheduler(model, kind: str | None):
    return scheduler_from(type(model.pipe.scheduler), model.pipe.scheduler.config, kind)


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


@contextlib.contextmanager
def freeu_enabled(unet, factors: tuple[float, float, float, float] | None):
    """FreeU (Si et al., CVPR 2024) on the decoder for one run: skip features scaled by s1, s2 and backbone
    features by b1, b2 (diffusers' own implementation), switched off again afterwards."""
    if factors is None:
        yield
        return
    s1, s2, b1, b2 = factors
    unet.enable_freeu(s1=s1, s2=s2, b1=b1, b2=b2)
    try:
        yield
    finally:
        unet.disable_freeu()


def freeu_input_scale(unet, block: int, factors: tuple[float, float, float, float] | None) -> float | None:
    """The factor by which FreeU multiplies, in place, the first half of the channels of up block `block`'s
    output when the next up block takes it as input (diffusers' `apply_freeu`: b1 in the up block of
    `resolution_idx` 0, b2 in that of 1, nothing elsewhere); None when nothing scales it."""
    if factors is None or block + 1 >= len(unet.up_blocks):
        return None
    _, _, b1, b2 = factors
    return {0: b1, 1: b2}.get(getattr(unet.up_blocks[block + 1], "resolution_idx", None))


def denoise(model, policy, state: RunState, latents: torch.Tensor, cond: Conditioning, scheduler, guidance: float,
            hooks=(), callback=None, resume: Resume | None = None, freeu=None) -> torch.Tensor:
    """Run the sampler over `scheduler.timesteps`, letting `policy` shape every attention call.

    With `resume`, the loop starts at `resume.step` from its latents and scheduler instead of `latents`, `scheduler`.
    `freeu`: FreeU's (s1, s2, b1, b2) for this run, or None.
    """
    unet, layout = model.pipe.unet, cond.layout
    added = dict(cond.added) if cond.added else None
    if added is not None:
        h, w = (s * model.vae_factor for s in latents.shape[-2:])
        added["time_ids"] = sdxl_time_ids(h, w, cond.embeds.shape[0], cond.embeds.dtype, latents.device)
    first = 0
    if resume is None:
        latents = latents * scheduler.init_noise_sigma
    else:  # a copy of its scheduler, so that the resume stays reusable
        first, latents, scheduler = resume.step, resume.latents, copy.deepcopy(resume.scheduler)
    with torch.no_grad(), story_processors(unet, policy, state), forward_hooks(hooks), freeu_enabled(unet, freeu):
        # The scheduler works on host copies of the timesteps and the UNet on the device's, so that no
        # step has to read a number back from the GPU: the host can queue work steps ahead of it.
        on_host = scheduler.timesteps.cpu()
        for i in range(first, len(on_host)):
            if state.stop_at is not None and i >= state.stop_at:
                break
            t = on_host[i]
            state.step, state.timestep = i, int(t)
            model_in = torch.cat([latents] * layout.chunks)
            model_in = scheduler.scale_model_input(model_in, t)
            policy.begin_step(state)
            for unet_pass, blocks in passes_with_replay(unet, policy.passes(state), policy.encoder_alike(state)):
                state.unet_pass = unet_pass
                with blocks:
                    noise = unet(model_in, scheduler.timesteps[i], encoder_hidden_states=cond.embeds,
                                 added_cond_kwargs=added).sample
            state.unet_pass = Pass.SAMPLE
            if layout.cfg:
                uncond, text = noise.chunk(2)
                noise = uncond + guidance * (text - uncond)
            latents = scheduler.step(noise, t, latents).prev_sample
            policy.end_step(state)
            if callback is not None:
                callback({"i": i, "t": int(t), "x": latents, "state": state, "scheduler": scheduler})
    return latents


def decode(model, latents: torch.Tensor) -> list:
    """Latents to PIL images, upcasting the VAE where fp16 would overflow (as diffusers does for SDXL)."""
    with region(DECODE):
        return _decode(model, latents)


def _decode(model, latents: torch.Tensor) -> list:
    vae = model.pipe.vae
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    dtype = torch.float32 if upcast else vae.dtype
    if upcast:
        vae.to(torch.float32)
    try:
        with torch.no_grad():
            scaled = latents.to(dtype) / vae.config.scaling_factor
            shift = getattr(vae.config, "shift_factor", None)
            images = vae.decode(scaled + shift if shift else scaled).sample
    finally:
        if upcast:
            vae.to(torch.float16)
    return model.pipe.image_processor.postprocess(images.float(), output_type="pil")
