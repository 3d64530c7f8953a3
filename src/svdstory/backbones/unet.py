"""The UNet backbone: SD 1.x/2.x and SDXL pipelines, as svdstory has always run them."""
from __future__ import annotations

import contextlib

import torch

from ..attention.install import story_processors
from ..encoder_reuse import passes_with_reuse
from ..errors import SvdStoryError
from ..limits import check_steps
from ..state import BatchLayout
from .base import Site, decode_vae, encode_vae, nothing, seeded_noise, segment_positions


class UNetBackbone:
    """A StableDiffusionPipeline or StableDiffusionXLPipeline: noise prediction, DDPM-family schedulers."""

    name = "unet"
    parts = ("down", "mid", "up")  # or one block of down/up, such as "up.0"
    schedulers = ("default", "ddim")
    has_freeu = True
    option_defaults: dict = {}  # the method configs' defaults are a UNet's

    def __init__(self, pipe):
        self.pipe = pipe
        self.unet = pipe.unet

    @property
    def is_sdxl(self) -> bool:
        return type(self.pipe).__name__.startswith("StableDiffusionXL")

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)

    @property
    def size_factor(self) -> int:
        return self.vae_factor

    @property
    def side(self) -> int:
        """The UNet's sample size, decoded."""
        return self.unet.config.sample_size * self.vae_factor

    @property
    def defaults(self) -> dict:
        return {}

    @property
    def tokenizers(self) -> list:
        return [t for t in (self.pipe.tokenizer, getattr(self.pipe, "tokenizer_2", None)) if t is not None]

    @property
    def train_timesteps(self) -> int:
        return self.pipe.scheduler.config.num_train_timesteps

    def encode(self, prompts: list[str], guidance: float, negative: str | None = None):
        """With no negative prompt the pipeline decides, as its own __call__ would: SDXL checkpoints whose config
        sets force_zeros_for_empty_prompt get zero unconditional embeddings, the others encode ""."""
        from ..sampling import Conditioning

        cfg, layout = guidance > 1.0, BatchLayout(len(prompts), guidance > 1.0)
        negatives = None if negative is None else [negative] * len(prompts)
        with torch.no_grad():
            if not self.is_sdxl:
                cond, uncond = self.pipe.encode_prompt(prompts, self.device, 1, cfg, negative_prompt=negatives)
                return Conditioning(torch.cat([uncond, cond]) if cfg else cond, None, layout)
            cond, uncond, pooled, uncond_pooled = self.pipe.encode_prompt(
                prompts, device=self.device, num_images_per_prompt=1, do_classifier_free_guidance=cfg,
                negative_prompt=negatives)
        embeds = torch.cat([uncond, cond]) if cfg else cond
        text_embeds = torch.cat([uncond_pooled, pooled]) if cfg else pooled
        return Conditioning(embeds, {"text_embeds": text_embeds}, layout)

    def initial_latents(self, seeds: list[int], height: int, width: int, same: bool = False) -> torch.Tensor:
        shape = (self.unet.config.in_channels, height // self.vae_factor, width // self.vae_factor)
        return seeded_noise(shape, seeds, same, self.device, self.dtype)

    def scheduler(self, kind: str | None):
        from ..sampling import scheduler_from

        return scheduler_from(type(self.pipe.scheduler), self.pipe.scheduler.config, kind)

    def set_timesteps(self, scheduler, steps: int, latent_hw: tuple[int, int]) -> None:
        scheduler.set_timesteps(steps, device=self.device)

    def check_steps(self, steps: int | None, what: str = "--steps") -> None:
        from ..sampling import every_scheduler

        check_steps(steps, every_scheduler(type(self.pipe.scheduler), self.pipe.scheduler.config), what)

    def start(self, latents: torch.Tensor, scheduler) -> torch.Tensor:
        return latents * scheduler.init_noise_sigma

    def model_input(self, latents: torch.Tensor, layout, scheduler, t) -> torch.Tensor:
        return scheduler.scale_model_input(torch.cat([latents] * layout.chunks), t)

    def predict(self, model_in: torch.Tensor, timestep: torch.Tensor, cond, guidance: float) -> torch.Tensor:
        added = None
        if cond.added is not None:  # SDXL's micro-conditioning: original size, crop offset (0, 0), target size
            h, w = (s * self.vae_factor for s in model_in.shape[-2:])
            time_ids = sdxl_time_ids(h, w, cond.embeds.shape[0], cond.embeds.dtype, model_in.device)
            added = {**cond.added, "time_ids": time_ids}
        return self.unet(model_in, timestep, encoder_hidden_states=cond.embeds, added_cond_kwargs=added).sample

    def passes(self, passes, alike: bool) -> list:
        return passes_with_reuse(self.unet, passes, alike)

    def attention(self, policy, state):
        return story_processors(self.unet, self.sites(), policy, state)

    def freeu(self, factors):
        return nothing() if factors is None else freeu_enabled(self.unet, factors)

    def freeu_input_scale(self, block: int, factors) -> float | None:
        """The factor by which FreeU multiplies, in place, the first half of the channels of up block `block`'s
        output when the next up block takes it as input (diffusers' `apply_freeu`: b1 in the up block of
        `resolution_idx` 0, b2 in that of 1, nothing elsewhere); None when nothing scales it."""
        if factors is None or block + 1 >= len(self.unet.up_blocks):
            return None
        _, _, b1, b2 = factors
        return {0: b1, 1: b2}.get(getattr(self.unet.up_blocks[block + 1], "resolution_idx", None))

    def dift_source(self, block: int):
        """Up block `block`, whose output is a feature map already."""
        return self.unet.up_blocks[block], lambda output, latent_hw: output[0] if isinstance(output, tuple) else output

    def text_segments(self) -> list[tuple]:
        """CLIP's tokens (SDXL's two encoders tokenize alike and are joined along the channels)."""
        return [(self.tokenizers[0], 0, self.tokenizers[0].model_max_length)]

    def token_positions(self, prompts: list[str], words: tuple[str, ...], rule: str = "word") -> list:
        return segment_positions(self.text_segments()[-1], prompts, words, rule)

    def decode(self, latents: torch.Tensor) -> list:
        return decode_vae(self.pipe, latents)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return encode_vae(self.pipe, pixels).to(self.dtype)

    def invert_step(self, scheduler, i: int, latents: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """DDIM inversion (Song et al. 2021, eq. 12 run from t-1 to t; Mokady et al. 2023): the prediction made
        at the less noisy latents stands in for the one at the noisier latents the step starts from."""
        from diffusers import DDIMScheduler

        if not isinstance(scheduler, DDIMScheduler):
            raise SvdStoryError(f"a reference photo is inverted along DDIM on UNet models, not along the checkpoint's "
                                f"{type(scheduler).__name__}: use --set scheduler=ddim")
        t = int(scheduler.timesteps[i])
        before = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps  # DDIM's own rule
        a_to = scheduler.alphas_cumprod[t]
        a_from = scheduler.alphas_cumprod[before] if before >= 0 else scheduler.final_alpha_cumprod
        x = latents.float()
        eps, x0 = _noise_and_sample(scheduler.config.prediction_type, x, prediction.float(), a_from)
        return (a_to.sqrt() * x0 + (1 - a_to).sqrt() * eps).to(latents.dtype)

    def sites(self) -> list[Site]:
        levels = len(self.unet.down_blocks) - 1  # a downsampler after every down block but the last
        return [unet_site(name, levels, self.pipe.tokenizer.model_max_length) for name in self.unet.attn_processors]


def unet_site(name: str, levels: int, text_len: int | None = None) -> Site:
    """A UNet attention layer read from its processor name, never from call order: its part (down, mid, up), its
    block, and its kind (`attn2` is cross-attention in diffusers' UNet transformer blocks). levels: how many times
    the UNet halves the latent grid; text_len: the tokens its cross-attention reads."""
    head = name.split(".")
    stage = {"down_blocks": "down", "mid_block": "mid", "up_blocks": "up"}.get(head[0], head[0])
    depth = int(head[1]) if stage in ("down", "up") and head[1].isdigit() else 0
    cross = ".attn2." in f".{name}"
    level = {"down": depth, "mid": levels, "up": levels - depth}.get(stage, 0)
    return Site(name, "cross" if cross else "self", stage, depth, level, text_len if cross else None)


def _noise_and_sample(kind: str, x: torch.Tensor, prediction: torch.Tensor, alpha: torch.Tensor):
    """(noise, clean sample) of latents `x` at noise level `alpha` (cumulative) from a prediction of `kind`."""
    a, b = alpha.sqrt(), (1 - alpha).sqrt()
    if kind == "epsilon":
        return prediction, (x - b * prediction) / a
    if kind == "v_prediction":
        return a * prediction + b * x, a * x - b * prediction
    if kind == "sample":
        return (x - a * prediction) / b, prediction
    raise SvdStoryError(f"the scheduler's prediction_type {kind!r} cannot be inverted")


def sdxl_time_ids(height: int, width: int, rows: int, dtype, device) -> torch.Tensor:
    """SDXL's micro-conditioning: original size, crop offset (0, 0), target size."""
    return torch.tensor([[height, width, 0, 0, height, width]] * rows, dtype=dtype, device=device)


@contextlib.contextmanager
def freeu_enabled(unet, factors: tuple[float, float, float, float]):
    """FreeU (Si et al., CVPR 2024) on the decoder for one run: skip features scaled by s1, s2 and backbone
    features by b1, b2 (diffusers' own implementation), switched off again afterwards."""
    s1, s2, b1, b2 = factors
    unet.enable_freeu(s1=s1, s2=s2, b1=b1, b2=b2)
    try:
        yield
    finally:
        unet.disable_freeu()
