"""What a method run needs: prompts, seeds, initial noise, conditioning and a way to denoise."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .sampling import Conditioning, Resume, decode, denoise, make_scheduler
from .state import RunState


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
