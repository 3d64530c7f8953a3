"""`consistory`: ConsiStory (Tewel et al., SIGGRAPH 2024), training-free consistent subjects.

Two stages, as in the reference release: a pre-pass with subject-driven self-attention (SDSA) that
records DIFT features and final subject masks, then the main pass with SDSA, vanilla-query mixing
and feature injection through the dense correspondences the pre-pass gave. Until injection starts the
main pass would repeat the pre-pass exactly, so it takes over from the pre-pass at that step instead.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch

from ..anchors import AnchorCache
from ..attention.spatial import check_parts
from ..attention.subject_policy import Injection, SubjectPolicy
from ..config import check_fraction, check_range, check_scheduler
from ..context import RunOutput
from ..correspondence import correspond, gaussian_smooth
from ..errors import SvdStoryError
from ..features import capture_block_output
from ..masks import binarize, resize_maps
from ..sampling import Resume
from ..steps import in_window, nearest_step
from ..tokens import TOKEN_RULES, story_token_positions
from .registry import Method, register


@dataclass(frozen=True)
class ConsiStoryConfig:
    """Defaults follow the reference release (SDXL): see docs/consistory.md for each source."""

    scheduler: str = "ddim"  # reference: DDIMScheduler
    n_anchors: int = 2  # images whose subject is shared (reference: 2 anchors)
    sdsa: bool = True  # subject-driven self-attention
    sdsa_parts: tuple[str, ...] = ("up",)  # UNet parts with SDSA (reference: up-blocks)
    sdsa_steps: tuple[float, float] = (0.0, 1.0)  # fraction of steps (reference: all steps once masks exist)
    mask_dropout: float = 0.5  # probability of hiding a shared subject token (reference: 0.5)
    mask_factor: int = 4  # maps from the layers at latent/4 (32x32 for SDXL at 1024 px)
    mask_window: int = 20  # steps the maps are averaged over (reference: the last 20)
    query_mix: bool = True  # blend in queries of a vanilla pass for layout diversity
    query_mix_until: float = 0.1  # fraction of steps with mixing (reference: first 10%)
    query_mix_start: float = 0.9  # vanilla-query weight at the first step
    query_mix_end: float = 0.8184  # ... and at the last mixing step (reference: 0.81836735)
    injection: bool = True  # feature injection through DIFT correspondences
    injection_steps: tuple[float, float] = (0.1, 1 / 3)  # reference: steps n//10..n//3 (5-16 of 50)
    injection_alpha: float = 0.8  # weight of the corresponding anchor output (reference: 0.8)
    injection_factor: int = 2  # layers at latent/2 (64x64 for SDXL at 1024 px)
    injection_parts: tuple[str, ...] = ("up", "down")  # reference run script: up and down blocks
    dift_block: int = 0  # UNet up-block whose output gives the DIFT features
    dift_timestep: float = 261.0  # reference: t=261 of 1000 training steps
    dift_sigma: float = 1.0  # 3x3 Gaussian smoothing of the features (reference: sigma 1)
    distance_threshold: float | None = None  # None: Otsu over each image's distances (reference: "dynamic")
    prepass: str = "feature"  # "feature": stop the pre-pass after the DIFT step; "full": run it to the end
    prepass_steps: int | None = None  # None: the pre-pass follows the run's steps; k: its own k-step schedule (ours)
    reuse_prepass: bool = True  # the main pass takes over the pre-pass where injection starts (same images)
    cache_device: str = "same"  # anchors+extras: keep the anchor cache on the model's device, or "cpu"
    subject_tokens: str = "word"  # "word": all the word's sub-tokens (ours); "release": the first, last occurrence

    def __post_init__(self):
        check_scheduler(self.scheduler)
        check_fraction("mask_dropout", self.mask_dropout)
        check_fraction("query_mix_until", self.query_mix_until)
        check_fraction("injection_alpha", self.injection_alpha)
        check_range("sdsa_steps", self.sdsa_steps)
        check_range("injection_steps", self.injection_steps)
        if self.n_anchors < 1:
            raise SvdStoryError(f"option n_anchors must be at least 1, got {self.n_anchors}")
        for name in ("mask_factor", "injection_factor", "mask_window"):
            if getattr(self, name) < 1:
                raise SvdStoryError(f"option {name} must be at least 1, got {getattr(self, name)}")
        if self.prepass_steps is not None and self.prepass_steps < 1:
            raise SvdStoryError(f"option prepass_steps must be at least 1 (or none), got {self.prepass_steps}")
        if self.prepass not in ("feature", "full"):
            raise SvdStoryError(f"option prepass must be 'feature' or 'full', got {self.prepass!r}")
        if self.cache_device not in ("same", "cpu"):
            raise SvdStoryError(f"option cache_device must be 'same' or 'cpu', got {self.cache_device!r}")
        if self.subject_tokens not in TOKEN_RULES:
            raise SvdStoryError(f"option subject_tokens must be one of {', '.join(TOKEN_RULES)}, "
                                f"got {self.subject_tokens!r}")
        check_parts(self.sdsa_parts, "sdsa_parts")
        check_parts(self.injection_parts, "injection_parts")


def _main_pass(ctx, config, anchors, injection=None, cache=None, resume: Resume | None = None):
    """The main pass with SubjectPolicy, from step 0 or from `resume`; returns the latents and the policy."""
    policy = SubjectPolicy(config, _positions(ctx, config), ctx.seeds, anchors, "main", injection, cache)
    if resume is not None:
        policy.restore(resume.policy)
    return ctx.denoise(ctx.new_state(policy), resume=resume), policy


def _positions(ctx, config) -> list[list[list[int]]]:
    """The subject tokens whose maps make the masks, under the config's rule."""
    if config.subject_tokens == "word":
        return ctx.token_positions
    return story_token_positions(ctx.model.pipe.tokenizer, ctx.prompts, ctx.story.tokens, config.subject_tokens)


def _resume_step(ctx, config, stop: int | None) -> int:
    """Where the main pass takes over the pre-pass (0: it cannot).

    Until injection starts the two compute the same thing: same noise, SDSA, query mixing and masks (mask
    dropout is keyed by seed, step and grid, not by pass), so the main pass may start from the pre-pass there.
    """
    if not config.reuse_prepass or config.prepass_steps is not None:
        return 0
    n = ctx.steps
    first = next((i for i in range(n) if in_window(i, n, config.injection_steps)), n)
    return min(first, stop or n)


def _prepass(ctx, config, anchors, cache=None):
    """The pre-pass: SDSA while the DIFT features are captured at their step.

    Returns (features, maps, resume): `resume` is the pre-pass at the main pass's first injection step, or None.
    """
    pre = ctx if config.prepass_steps is None else replace(ctx, steps=config.prepass_steps)
    train_steps = ctx.model.pipe.scheduler.config.num_train_timesteps
    dift_step = nearest_step(pre.timesteps(), config.dift_timestep * train_steps / 1000)
    stop = dift_step + 1 if config.prepass == "feature" else None
    policy = SubjectPolicy(config, _positions(ctx, config), ctx.seeds, anchors, "pre", None, cache)
    state = pre.new_state(policy, stop)
    at, kept = _resume_step(ctx, config, stop), {}

    def keep(info):  # the end of step at-1 is the start of step at
        if info["i"] == at - 1:
            kept["resume"] = Resume(at, info["x"].clone(), copy.deepcopy(info["scheduler"]), policy.snapshot())

    pre.denoise(state, [capture_block_output(ctx.model.pipe.unet.up_blocks[config.dift_block], state, "dift",
                                             dift_step)], keep if at else None)
    return state.features["dift"], policy.final_maps(), kept.get("resume")


def _injection(ctx, config, features, maps, src_features, src_maps, allowed) -> Injection:
    """Correspondences at the injection grid from smoothed DIFT features and pre-pass subject masks."""
    from ..attention.spatial import token_grid

    h, w = ctx.latents.shape[-2:]
    grid = token_grid(((h + config.injection_factor - 1) // config.injection_factor)
                      * ((w + config.injection_factor - 1) // config.injection_factor), (h, w))
    prep = lambda f: resize_maps(gaussian_smooth(f.float(), config.dift_sigma), grid)
    masks = lambda m: binarize(resize_maps(m, grid)).any(1).flatten(1)
    match = correspond(prep(features), prep(src_features), masks(maps), masks(src_maps), allowed,
                       config.distance_threshold)
    return Injection(grid, match, config.injection_alpha)


def _anchor_indices(n: int, config) -> list[int]:
    return list(range(min(config.n_anchors, n)))


def run(ctx, config: ConsiStoryConfig, cache: AnchorCache | None = None) -> RunOutput:
    anchors = _anchor_indices(ctx.n_images, config)
    if not config.injection:
        latents, policy = _main_pass(ctx, config, anchors, cache=cache)
        return RunOutput(latents, policy.final_maps())
    features, maps, resume = _prepass(ctx, config, anchors, cache)
    allowed = torch.zeros(ctx.n_images, ctx.n_images, dtype=torch.bool)
    allowed[:, anchors] = True
    allowed.fill_diagonal_(False)
    injection = _injection(ctx, config, features, maps, features, maps, allowed)
    if cache is not None:
        cache.features, cache.maps = cache.keep(features), cache.keep(maps)
    latents, policy = _main_pass(ctx, config, anchors, injection, cache, resume)
    return RunOutput(latents, policy.final_maps(), {"injection": injection})


def run_anchors(ctx, config: ConsiStoryConfig):
    """Generate the anchor images (the whole context) and record what extra images will need."""
    cache = AnchorCache("record", "cpu" if config.cache_device == "cpu" else None)
    out = run(ctx, config, cache)
    cache.mode = "use"
    return out, cache


def run_extra(ctx, config: ConsiStoryConfig, cache: AnchorCache) -> RunOutput:
    """One more image (ctx holds one image) sharing the cached anchors' subject."""
    if not config.injection:
        latents, policy = _main_pass(ctx, config, [], cache=cache)
        return RunOutput(latents, policy.final_maps())
    features, maps, resume = _prepass(ctx, config, [], cache)
    src_features, src_maps = cache.features.to(ctx.latents.device), cache.maps.to(ctx.latents.device)
    allowed = torch.ones(ctx.n_images, src_features.shape[0], dtype=torch.bool)
    injection = _injection(ctx, config, features, maps, src_features, src_maps, allowed)
    latents, policy = _main_pass(ctx, config, [], injection, cache, resume)
    return RunOutput(latents, policy.final_maps(), {"injection": injection})


register(Method("consistory", ConsiStoryConfig, run, run_anchors, run_extra,
                "ConsiStory: SDSA with subject masks, query mixing, feature injection"))
