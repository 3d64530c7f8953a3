"""`consistory`: ConsiStory (Tewel et al., SIGGRAPH 2024), training-free consistent subjects.

Two stages, as in the reference release: a pre-pass with subject-driven self-attention (SDSA) that
records DIFT features and final subject masks, then the main pass with SDSA, vanilla-query mixing
and feature injection through the dense correspondences the pre-pass gave. Until injection starts the
main pass would repeat the pre-pass exactly, so it takes over from the pre-pass at that step instead.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch

from ...anchors import AnchorCache, AnchorReplay
from ...errors import SvdStoryError
from ...masks import binarize, resize_maps
from ...profiling import CORRESPONDENCE, region
from ...sampling import Resume, RunOutput, make_scheduler
from ...steps import in_window, nearest_step
from ..anchored import anchor_indices, anchor_recorder
from ..configs import ConsiStoryConfig
from ..registry import Method, register
from .correspondence import correspond, gaussian_smooth
from .features import capture_block_output
from .injection import Injection
from .policy import Stage, SubjectPolicy


def _main_pass(ctx, config, anchors, injection=None, resume: Resume | None = None, **cache):
    """The main pass with SubjectPolicy, from step 0 or from `resume`; returns the latents and the policy.
    `cache`: recorder= or replay= (see anchors.py)."""
    policy = SubjectPolicy(config, _positions(ctx, config), ctx.seeds, anchors, Stage.MAIN, injection, **cache)
    if resume is not None:
        policy.restore(resume.policy)
    return ctx.denoise(policy, resume=resume), policy


def _positions(ctx, config) -> list[list[list[int]]]:
    """The subject tokens whose maps make the masks, under the config's rule."""
    if config.subject_tokens == "word":
        return ctx.token_positions
    return ctx.model.backbone.token_positions(ctx.prompts, ctx.story.tokens, config.subject_tokens)


def _resume_step(steps: int, config, stop: int | None) -> int:
    """Where the main pass takes over the pre-pass (0: it cannot).

    Until injection starts the two compute the same thing: same noise, SDSA, query mixing and masks (mask
    dropout is keyed by seed, step and grid, not by pass), so the main pass may start from the pre-pass there.
    """
    if not config.reuse_prepass or config.prepass_steps is not None:
        return 0
    first = next((i for i in range(steps) if in_window(i, steps, config.injection_steps)), steps)
    return min(first, stop or steps)


def _dift_step(timesteps: list[int], config, train_steps: int) -> int:
    return nearest_step(timesteps, config.dift_timestep * train_steps / 1000)


def _prepass_steps(model, config, steps: int) -> int:
    """The pre-pass's steps (the run's unless the config names its own), checked against the model's scheduler."""
    model.backbone.check_steps(config.prepass_steps, "option prepass_steps")
    return config.prepass_steps or steps


def count_steps(model, config: ConsiStoryConfig, sampling) -> int:
    """Sampler steps of one run: the pre-pass (to the DIFT step, or whole), then the main pass from where it
    takes over the pre-pass. The DIFT step depends on the schedule, which on FLUX depends on the image size."""
    steps = sampling.steps
    if not config.injection:
        return steps
    pre_steps = _prepass_steps(model, config, steps)
    scheduler = make_scheduler(model, config.scheduler)
    factor = model.backbone.vae_factor
    model.backbone.set_timesteps(scheduler, pre_steps, (sampling.height // factor, sampling.width // factor))
    dift = _dift_step([int(t) for t in scheduler.timesteps], config, model.backbone.train_timesteps)
    stop = dift + 1 if config.prepass == "feature" else pre_steps
    return min(stop, pre_steps) + steps - _resume_step(steps, config, stop)


def _prepass(ctx, config, anchors, **cache):
    """The pre-pass: SDSA while the DIFT features are captured at their step.

    Returns (features, maps, resume): `resume` is the pre-pass at the main pass's first injection step, or None.
    """
    pre = replace(ctx, steps=_prepass_steps(ctx.model, config, ctx.steps))
    train_steps = ctx.model.backbone.train_timesteps
    dift_step = _dift_step(pre.timesteps(), config, train_steps)
    stop = dift_step + 1 if config.prepass == "feature" else None
    policy = SubjectPolicy(config, _positions(ctx, config), ctx.seeds, anchors, Stage.PREPASS, None, **cache)
    state = pre.new_state(stop)
    at, kept = _resume_step(ctx.steps, config, stop), {}

    def keep(info):  # the end of step at-1 is the start of step at
        if info["i"] == at - 1:
            kept["resume"] = Resume(at, info["x"].clone(), copy.deepcopy(info["scheduler"]), policy.snapshot())

    # With FreeU the release's features carry the next up block's in-place scaling of their first half: it
    # keeps the block's output uncopied, and the next block multiplies it by b2 before the features are read.
    backbone = ctx.model.backbone
    dift = capture_block_output(*backbone.dift_source(config.dift_block), state, "dift", dift_step,
                                backbone.freeu_input_scale(config.dift_block, ctx.freeu))
    pre.denoise(policy, state, [dift], keep if at else None)
    return state.features["dift"], policy.final_maps(), kept.get("resume")


def _injection(ctx, config, features, maps, src_features, src_maps, allowed) -> Injection:
    """Correspondences at the injection grid from smoothed DIFT features and pre-pass subject masks."""
    from ...attention.spatial import token_grid

    h, w = ctx.latents.shape[-2:]
    grid = token_grid(((h + config.injection_factor - 1) // config.injection_factor)
                      * ((w + config.injection_factor - 1) // config.injection_factor), (h, w))
    grids = {site.grid((h, w)) for site in ctx.model.backbone.sites() if site.kind != "cross"}
    if grid not in grids:
        raise SvdStoryError(f"option injection_factor={config.injection_factor} names no attention grid of this model "
                            f"(its grids: {', '.join(f'{a}x{b}' for a, b in sorted(grids))})")
    prep = lambda f: resize_maps(gaussian_smooth(f.float(), config.dift_sigma), grid)
    masks = lambda m: binarize(resize_maps(m, grid)).any(1).flatten(1)
    with region(CORRESPONDENCE):
        match = correspond(prep(features), prep(src_features), masks(maps), masks(src_maps), allowed,
                           config.distance_threshold)
    return Injection(grid, match, config.injection_alpha)


def run(ctx, config: ConsiStoryConfig, recorder=None) -> RunOutput:
    """The whole story in one batch; with a `recorder`, also what extra images will need."""
    anchors = anchor_indices(ctx.n_images, config.n_anchors)
    if not config.injection:
        latents, policy = _main_pass(ctx, config, anchors, recorder=recorder)
        return RunOutput(latents, policy.final_maps())
    features, maps, resume = _prepass(ctx, config, anchors, recorder=recorder)
    allowed = torch.zeros(ctx.n_images, ctx.n_images, dtype=torch.bool)
    allowed[:, anchors] = True
    allowed.fill_diagonal_(False)
    injection = _injection(ctx, config, features, maps, features, maps, allowed)
    if recorder is not None:
        recorder.record_features(features, maps)
    latents, policy = _main_pass(ctx, config, anchors, injection, resume, recorder=recorder)
    return RunOutput(latents, policy.final_maps(), {"injection": injection})


def run_anchors(ctx, config: ConsiStoryConfig, recorder=None):
    """The anchors in one batch, and the cache of what extra images will need from them (kept by `recorder`,
    else a new one: a photo's filters what it keeps by the photo's mask)."""
    recorder = recorder or anchor_recorder(config)
    return run(ctx, config, recorder), recorder.cache


def run_extra(ctx, config: ConsiStoryConfig, cache: AnchorCache) -> RunOutput:
    """One more image (ctx holds one image) sharing the cached anchors' subject."""
    replay = AnchorReplay(cache)
    if not config.injection:
        latents, policy = _main_pass(ctx, config, [], replay=replay)
        return RunOutput(latents, policy.final_maps())
    features, maps, resume = _prepass(ctx, config, [], replay=replay)
    src_features, src_maps = replay.features(ctx.latents.device)
    allowed = torch.ones(ctx.n_images, src_features.shape[0], dtype=torch.bool)
    injection = _injection(ctx, config, features, maps, src_features, src_maps, allowed)
    latents, policy = _main_pass(ctx, config, [], injection, resume, replay=replay)
    return RunOutput(latents, policy.final_maps(), {"injection": injection})


register(Method("consistory", ConsiStoryConfig, run, run_anchors, run_extra, count_steps=count_steps,
                reference=True))
