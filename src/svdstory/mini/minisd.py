"""The mini Stable Diffusion: SD's architecture at a size that trains in minutes and samples on a CPU.

Every part is a stock diffusers/transformers class built from config, so a pipeline saved from it
loads with plain `StableDiffusionPipeline.from_pretrained` and every attention hook written for
SD 1.x applies unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from svdstory.errors import SvdStoryError
from svdstory.mini.tokenizer import build_tokenizer

@dataclass(frozen=True)
class MiniSDConfig:
    """Sizes of the three networks; the defaults are the shipped model."""

    image_size: int = 128                      # pixels per side of generated images
    latent_channels: int = 4                   # as in SD 1.x
    vae_channels: tuple[int, ...] = (32, 64, 64)  # one VAE level per entry; len-1 halvings (factor 4)
    vae_layers: int = 2                        # resnets per VAE encoder level (decoder: +1)
    unet_channels: tuple[int, ...] = (64, 128, 160)  # UNet levels at 32, 16, 8 latent pixels
    unet_layers: int = 1                       # resnets (+ transformers) per UNet level
    head_channels: int = 32                    # channels per attention head in the UNet
    norm_groups: int = 32                      # GroupNorm groups in UNet and VAE
    text_width: int = 192                      # CLIP hidden size = UNet cross-attention dim
    text_layers: int = 3
    text_heads: int = 4
    text_ffn: int = 768
    max_length: int = 24                       # tokens incl. start/end; the longest caption takes 18

    def __post_init__(self) -> None:
        bad = [c for c in self.vae_channels if c % self.norm_groups]
        bad += [c for c in self.unet_channels if c % self.norm_groups or c % self.head_channels]
        if bad:
            raise SvdStoryError(f"channels {bad}: each must divide by norm_groups and (UNet) head_channels")
        if len(self.unet_channels) < 3:
            raise SvdStoryError(f"unet_channels={self.unet_channels}: need >= 3 levels (cross-attention at >= 2)")

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae_channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.vae_factor


def config_from_dict(data: dict) -> MiniSDConfig:
    """Inverse of `dataclasses.asdict` (JSON turns tuples into lists)."""
    return MiniSDConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def tiny_config() -> MiniSDConfig:
    """A ~0.1M-parameter model (64 px, VAE factor 2) for CPU smoke tests."""
    return MiniSDConfig(image_size=64, vae_channels=(8, 8), unet_channels=(8, 16, 16), head_channels=8,
                        norm_groups=4, text_width=16, text_layers=1, text_heads=2, text_ffn=32, max_length=20)


def default_model_path() -> Path:
    """The bundled diffusers folder (it exists once the model has been trained and shipped)."""
    return Path(__file__).resolve().parents[1] / "assets" / "minisd"


# ---------------------------------------------------------------- networks


def build_vae(cfg: MiniSDConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=cfg.latent_channels,
                         down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         block_out_channels=cfg.vae_channels, layers_per_block=cfg.vae_layers,
                         norm_num_groups=cfg.norm_groups, sample_size=cfg.image_size, scaling_factor=1.0)


def build_text_encoder(cfg: MiniSDConfig, tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    text_cfg = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=cfg.text_width,
                              intermediate_size=cfg.text_ffn, num_hidden_layers=cfg.text_layers,
                              num_attention_heads=cfg.text_heads, max_position_embeddings=cfg.max_length,
                              hidden_act="quick_gelu", projection_dim=cfg.text_width,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(text_cfg)


def build_unet(cfg: MiniSDConfig):
    """SD's UNet layout: cross-attention on every level but the coarsest, plus the mid block."""
    from diffusers import UNet2DConditionModel

    n = len(cfg.unet_channels)
    return UNet2DConditionModel(
        sample_size=cfg.latent_size, in_channels=cfg.latent_channels, out_channels=cfg.latent_channels,
        block_out_channels=cfg.unet_channels, layers_per_block=cfg.unet_layers,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        cross_attention_dim=cfg.text_width, norm_num_groups=cfg.norm_groups,
        # diffusers' historical naming: `attention_head_dim` holds the number of heads
        attention_head_dim=tuple(c // cfg.head_channels for c in cfg.unet_channels),
    )


SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                prediction_type="epsilon")


def build_train_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE, clip_sample=False)


def build_sample_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def build_components(cfg: MiniSDConfig, words: Iterable[str] | None = None, tokenizer=None) -> dict:
    """Fresh (untrained) pipeline parts keyed as `StableDiffusionPipeline` expects them.

    The tokenizer is built from `words` (default: every v1 and v2 caption word, as the shipped one) unless
    one is given.
    """
    if tokenizer is None:
        if words is None:
            from svdstory.world.captions_v2 import vocabulary_v2

            words = vocabulary_v2()
        tokenizer = build_tokenizer(words, cfg.max_length)
    return dict(vae=build_vae(cfg), text_encoder=build_text_encoder(cfg, tokenizer), tokenizer=tokenizer,
                unet=build_unet(cfg), scheduler=build_sample_scheduler())


def assemble_pipeline(components: dict):
    """A `StableDiffusionPipeline` without safety checker, as the bundled model is saved."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


# 25 DDIM steps keep a 4-image CFG story near 14 s on 2 CPU cores; 5.0 and 7.5 score alike (docs/training.md)
SAMPLING_DEFAULTS = {"steps": 25, "guidance": 5.0}


def write_sampling_defaults(folder: Path) -> None:
    """svdstory.json: the step count and guidance `svdstory.models` uses for this model by default."""
    (folder / "svdstory.json").write_text(json.dumps(SAMPLING_DEFAULTS, indent=1) + "\n")


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
