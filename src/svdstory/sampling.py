"""The denoising loop: explicit step index, one RunState, a callback per step (no pipeline __call__); and what a
method's run of it needs (`RunContext`) and gives back (`RunOutput`).

The loop knows no network: it asks the model's backbone (`backbones/`) for the batch, the prediction, the
scheduler and the attention processors.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .attention.install import forward_hooks
from .backbones.base import guided
from .errors import SvdStoryError
from .preflight import check_size
from .profiling import DECODE, region
from .settings import SCHEDULERS
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
    """One fresh scheduler of each kind a method may choose (settings.SCHEDULERS), for limits that hold for all."""
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


@dataclass
class RunOutput:
    """A finished (or partial) denoising run."""

    latents: torch.Tensor  # (n, C, h, w)
    masks: torch.Tensor | None = None  # (n, subjects, h, w) float in [0, 1] at attention-map resolution
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """Everything fixed before a run starts; methods derive others (`subset`, `dataclasses.replace`)."""

    model: object  # models.Model
    prompts: list[str]
    seeds: list[int]
    latents: torch.Tensor  # (n, C, h, w) initial noise
    cond: Conditioning
    token_positions: list[list[list[int]]]  # [subject][image] -> positions in the prompt
    steps: int
    guidance: float
    scheduler: str | None = None
    callback: object = None
    story: object = None  # the Story these prompts came from (prompt-side methods rebuild prompts)
    attention_chunk: int | None = None
    freeu: tuple[float, float, float, float] | None = None  # FreeU's (s1, s2, b1, b2), or None
    path: torch.Tensor | None = None  # (steps, n, C, h, w): the latents each step starts from (a photo's inversion)

    @property
    def n_images(self) -> int:
        return len(self.prompts)

    def new_state(self, stop_at: int | None = None) -> RunState:
        return RunState(self.cond.layout, self.steps, tuple(self.latents.shape[-2:]), stop_at=stop_at,
                        attention_chunk=self.attention_chunk)

    def scheduler_with_timesteps(self):
        """A fresh scheduler of the run's kind, its timesteps set for the run's steps and latent size."""
        scheduler = make_scheduler(self.model, self.scheduler)
        self.model.backbone.set_timesteps(scheduler, self.steps, tuple(self.latents.shape[-2:]))
        return scheduler

    def timesteps(self) -> list[int]:
        return [int(t) for t in self.scheduler_with_timesteps().timesteps]

    def denoise(self, policy, state: RunState | None = None, hooks=(), on_step=None,
                resume: Resume | None = None) -> torch.Tensor:
        """The sampler loop under `policy` (a fresh state unless given); `on_step(info)` runs after each step,
        before the user's callback."""
        state = state or self.new_state()
        scheduler = self.scheduler_with_timesteps()
        callbacks = [c for c in (on_step, self.callback) if c is not None]
        callback = (lambda info: [c(info) for c in callbacks]) if callbacks else None
        return denoise(self.model, policy, state, self.latents, self.cond, scheduler, self.guidance, hooks, callback,
                       resume, self.freeu, self.path)

    def decode(self, latents: torch.Tensor) -> list:
        return decode(self.model, latents)

    def subset(self, indices: list[int]) -> "RunContext":
        """The same story restricted to some images (used for anchors and for one extra image)."""
        layout = type(self.cond.layout)(len(indices), self.cond.layout.cfg)
        pick = lambda x: None if x is None else self.cond.layout.merge(self.cond.layout.split(x)[:, indices])
        added = None if self.cond.added is None else {k: pick(v) for k, v in self.cond.added.items()}
        cond = Conditioning(pick(self.cond.embeds), added, layout)
        return RunContext(self.model, [self.prompts[i] for i in indices], [self.seeds[i] for i in indices],
                          self.latents[indices], cond, [[p[i] for i in indices] for p in self.token_positions],
                          self.steps, self.guidance, self.scheduler, self.callback,
                          None if self.story is None else self.story.with_scenes(
                              [self.story.scenes[i] for i in indices], [self.seeds[i] for i in indices]),
                          self.attention_chunk, self.freeu)
