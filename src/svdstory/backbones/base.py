"""The seam between svdstory and a diffusers model: what the sampler and the methods may ask of a backbone.

Nothing outside `backbones/` should read a diffusers pipeline's parts (`pipe.unet`, `pipe.transformer`,
`pipe.scheduler`, ...); it asks the model's backbone instead.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager, Literal, Protocol

import torch

from ..errors import SvdStoryError

SiteKind = Literal["self", "cross", "joint"]


@dataclass(frozen=True)
class Site:
    """One attention layer of a backbone, as a method sees it."""

    name: str  # the diffusers processor name, e.g. "up_blocks.1.attentions.0.transformer_blocks.0.attn1.processor"
    kind: SiteKind  # self: image tokens only; cross: image queries, text keys; joint: image and text together
    stage: str  # the part it belongs to: "down" | "mid" | "up" (UNet), "double" | "single" (FLUX), "joint" (SD3)
    depth: int  # the index of its block within its stage
    level: int  # how many times the latent grid is halved before this layer's image tokens
    text_len: int | None  # text tokens it reads (cross and joint sites), else None

    def within(self, parts) -> bool:
        """True if `parts` names this layer's stage ("up", "double") or its block ("up.0", "double.3")."""
        return self.stage in parts or f"{self.stage}.{self.depth}" in parts

    def grid(self, latent_hw: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the layer's image tokens; a stride-2 conv with padding 1 rounds up."""
        h, w = latent_hw
        for _ in range(self.level):
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w


class Backbone(Protocol):
    """A denoising network and its pipeline's parts, behind one interface.

    Latents are always in image layout, (n, C, h, w): a backbone that works on packed tokens (FLUX) packs and
    unpacks them inside `predict`, so callbacks, masks and anchor subsets read the same everywhere.
    """

    name: str  # "unet", "flux" or "sd3": what a method declares it runs on
    pipe: object  # the diffusers pipeline (read only inside backbones/)
    parts: tuple[str, ...]  # the stages a method's `parts` options may name
    schedulers: tuple[str, ...]  # the scheduler kinds this backbone offers ("default" first)
    has_freeu: bool  # FreeU applies (a UNet decoder feature)
    option_defaults: dict  # method options whose default differs on this backbone (e.g. parts), by option name

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def vae_factor(self) -> int:
        """Pixels per latent cell."""

    @property
    def size_factor(self) -> int:
        """What every image side must be divisible by (the VAE factor, times the patch size on a DiT)."""

    @property
    def side(self) -> int:
        """The image side in pixels the model was made for."""

    @property
    def defaults(self) -> dict:
        """Recommended "steps" and "guidance" where the family has its own (FLUX schnell: 4 steps)."""

    @property
    def tokenizers(self) -> list:
        """Every tokenizer whose text encoder a prompt must fit; the first one counts subject positions."""

    def encode(self, prompts: list[str], guidance: float, negative: str | None = None): ...

    def initial_latents(self, seeds: list[int], height: int, width: int, same: bool = False) -> torch.Tensor: ...

    def scheduler(self, kind: str | None): ...

    def set_timesteps(self, scheduler, steps: int, latent_hw: tuple[int, int]) -> None: ...

    def check_steps(self, steps: int | None, what: str = "--steps") -> None: ...

    def start(self, latents: torch.Tensor, scheduler) -> torch.Tensor:
        """The sampler's first latents from the initial noise."""

    def model_input(self, latents: torch.Tensor, layout, scheduler, t) -> torch.Tensor:
        """The network's batch at host timestep `t`: `layout.chunks` copies of the latents, scaled."""

    def predict(self, model_in: torch.Tensor, timestep: torch.Tensor, cond, guidance: float) -> torch.Tensor:
        """The network's output for the whole batch (chunks * n, C, h, w), before classifier-free guidance."""

    def passes(self, passes, alike: bool) -> list: ...

    def attention(self, policy, state) -> ContextManager: ...

    def freeu(self, factors) -> ContextManager: ...

    def decode(self, latents: torch.Tensor) -> list: ...

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Images (n, 3, H, W) in [-1, 1] to latents (n, C, h, w) as `decode` reads them: the VAE's encoder."""

    def invert_step(self, scheduler, i: int, latents: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The latents step `i` of the sampler starts from, given the latents it ends at and the network's
        (guided) prediction there: the sampler's step run backwards (DDIM inversion; its flow-matching
        counterpart)."""

    def sites(self) -> list[Site]: ...

    def text_segments(self) -> list[tuple]:
        """(tokenizer, start, length) of each encoder's tokens in the text sequence the attention layers read."""

    def token_positions(self, prompts: list[str], words: tuple[str, ...], rule: str = "word") -> list:
        """positions[s][i]: where subject word s sits in prompt i, in the text tokens the attention layers read
        (those of the last of `text_segments`: CLIP's on a UNet, T5's on a DiT)."""

    def dift_source(self, block: int):
        """(module, read): the module whose output gives DIFT features (Tang et al. 2023), and
        read(output, latent_hw) -> (B, C, h, w) of that output."""


def segment_positions(segment: tuple, prompts: list[str], words: tuple[str, ...], rule: str = "word") -> list:
    """`Backbone.token_positions` in one of its text segments."""
    from ..subject_words import story_token_positions

    tokenizer, start, _ = segment
    positions = story_token_positions(tokenizer, prompts, words, rule)
    return [[[start + p for p in image] for image in subject] for subject in positions]


def guided(noise: torch.Tensor, layout, guidance: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) over a batch of [uncond..., cond...]; as is without it."""
    if not layout.cfg:
        return noise
    uncond, text = noise.chunk(2)
    return uncond + guidance * (text - uncond)


def seeded_noise(shape: tuple[int, ...], seeds: list[int], same: bool, device, dtype) -> torch.Tensor:
    """Per-image noise from per-image CPU generators: identical on every device and batch split."""
    seeds = [seeds[0]] * len(seeds) if same else seeds
    noise = [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(s))) for s in seeds]
    return torch.stack(noise).to(device, dtype)  # (n, C, h, w)


def decode_vae(pipe, latents: torch.Tensor) -> list:
    """Latents to PIL images, upcasting the VAE where fp16 would overflow (`vae_upcast`)."""
    vae = pipe.vae
    with vae_upcast(vae) as dtype, torch.no_grad():
        scaled = latents.to(dtype) / vae.config.scaling_factor
        shift = getattr(vae.config, "shift_factor", None)
        images = vae.decode(scaled + shift if shift else scaled).sample
    return pipe.image_processor.postprocess(images.float(), output_type="pil")


def encode_vae(pipe, pixels: torch.Tensor) -> torch.Tensor:
    """Images (n, 3, H, W) in [-1, 1] to scaled latents: the mode of the encoder's distribution (no sampling, so
    a photo always gives the same latents), shifted and scaled as `decode_vae` undoes it."""
    vae = pipe.vae
    with vae_upcast(vae) as dtype, torch.no_grad():
        latents = vae.encode(pixels.to(vae.device, dtype)).latent_dist.mode()
    shift = getattr(vae.config, "shift_factor", None)
    return ((latents - shift if shift else latents) * vae.config.scaling_factor).to(pixels.dtype)


@contextlib.contextmanager
def vae_upcast(vae):
    """The dtype the VAE runs in: float32 while the block runs where fp16 would overflow (as diffusers does for
    SDXL, `force_upcast`), else its own."""
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    if upcast:
        vae.to(torch.float32)
    try:
        yield torch.float32 if upcast else vae.dtype
    finally:
        if upcast:
            vae.to(torch.float16)


def check_kind(kind: str | None, offered: tuple[str, ...], backbone: str) -> str:
    """The scheduler kind, "default" for none; one line naming what the backbone offers otherwise."""
    kind = kind or "default"
    if kind not in offered:
        raise SvdStoryError(f"scheduler {kind!r} is not offered on {backbone} models (offered: {', '.join(offered)})")
    return kind


@contextlib.contextmanager
def nothing():
    yield
