"""MMDiT backbones: FLUX.1 (dev, schnell) and SD3/SD3.5, flow-matching transformers with joint attention.

Each step follows its diffusers pipeline's own `__call__` (FluxPipeline, StableDiffusion3Pipeline), so that
`vanilla` gives their images. Their attention runs svdstory's joint-attention processor
(attention/joint_processor.py).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import SvdStoryError
from ..state import BatchLayout
from .base import Site, check_kind, decode_vae, encode_vae, nothing, seeded_noise, segment_positions


class MMDiTBackbone:
    """What FLUX and SD3 share: a transformer over patches, a flow-matching scheduler, no FreeU."""

    name = "mmdit"
    parts: tuple[str, ...] = ()
    schedulers = ("default",)  # the checkpoint's flow-matching scheduler; DDIM does not apply
    has_freeu = False
    pipeline_text_len = 256  # the pipeline's default max_sequence_length for T5
    text_first = True  # the text tokens lead the joint attention's sequence (FLUX), or follow the image's (SD3)

    def __init__(self, pipe):
        self.pipe = pipe
        self.transformer = pipe.transformer

    @property
    def option_defaults(self) -> dict:
        """The checkpoint's own flow-matching sampler (DDIM does not apply), sharing in every block (a DiT's blocks
        all see one token grid, with no decoder to single out as ConsiStory singles out the UNet's), and DIFT
        features from the middle block."""
        return {"scheduler": "default", "parts": self.parts, "sdsa_parts": self.parts, "injection_parts": self.parts,
                "dift_block": len(self.blocks()) // 2}

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)

    @property
    def side(self) -> int:
        return self.pipe.default_sample_size * self.vae_factor

    @property
    def tokenizers(self) -> list:
        names = ("tokenizer", "tokenizer_2", "tokenizer_3")
        return [t for t in (getattr(self.pipe, n, None) for n in names) if t is not None]

    @property
    def text_len(self) -> int:
        """T5 tokens per prompt: the pipeline's default, or fewer where the T5 tokenizer takes fewer."""
        t5 = self.tokenizers[-1] if len(self.tokenizers) > 1 else None
        return min(self.pipeline_text_len, t5.model_max_length) if t5 is not None else self.pipeline_text_len

    @property
    def text_offset(self) -> int:
        """Text tokens before T5's in the sequence the transformer reads: none on FLUX, CLIP's on SD3."""
        return 0

    @property
    def train_timesteps(self) -> int:
        return self.pipe.scheduler.config.num_train_timesteps

    def initial_latents(self, seeds: list[int], height: int, width: int, same: bool = False) -> torch.Tensor:
        shape = (self.latent_channels, height // self.vae_factor, width // self.vae_factor)
        return seeded_noise(shape, seeds, same, self.device, self.dtype)

    def scheduler(self, kind: str | None):
        check_kind(kind, self.schedulers, self.name)
        return type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)

    def check_steps(self, steps: int | None, what: str = "--steps") -> None:
        if steps is not None and steps > self.train_timesteps:
            raise SvdStoryError(f"{what} {steps} is more than the model's scheduler takes "
                                f"({self.train_timesteps} training timesteps)")

    def start(self, latents: torch.Tensor, scheduler) -> torch.Tensor:
        return latents  # flow matching starts from the noise itself

    def model_input(self, latents: torch.Tensor, layout, scheduler, t) -> torch.Tensor:
        return torch.cat([latents] * layout.chunks) if layout.chunks > 1 else latents

    def passes(self, passes, alike: bool) -> list:
        return [(one, nothing()) for one in passes]

    def attention(self, policy, state):
        """svdstory's joint processor on every attention layer, the policy acting through it."""
        from ..attention.install import joint_processors

        return joint_processors(self.transformer, self.sites(), policy, state, self.text_first)

    def freeu(self, factors):
        if factors is not None:
            raise SvdStoryError(f"--freeu applies to UNet decoders only, not to {self.name} models")
        return nothing()

    def blocks(self) -> list:
        """The transformer blocks in the order they run (FLUX: the double-stream ones, then the single-stream)."""
        single = getattr(self.transformer, "single_transformer_blocks", [])  # FLUX's; SD3 has none
        return list(self.transformer.transformer_blocks) + list(single)

    def dift_source(self, block: int):
        """Transformer block `block` (counted over `blocks()`): its image tokens laid out on their grid."""
        blocks = self.blocks()
        if not 0 <= block < len(blocks):
            raise SvdStoryError(f"option dift_block {block} is not a block of this {self.name} model "
                                f"(0 to {len(blocks) - 1})")
        site = self.sites()[0]  # every block sees the same image-token grid

        def read(output, latent_hw):
            image = output[1]  # a block returns (text tokens, image tokens), the image's (B, h*w, C)
            return image.transpose(1, 2).unflatten(2, site.grid(latent_hw))  # (B, C, h, w)

        return blocks[block], read

    def text_segments(self) -> list[tuple]:
        """T5's tokens, after the CLIP encoders' on SD3 (FLUX reads CLIP's pooled embedding only)."""
        t5 = (self.tokenizers[-1], self.text_offset, self.text_len)
        return [(self.tokenizers[0], 0, self.text_offset), t5] if self.text_offset else [t5]

    def token_positions(self, prompts: list[str], words: tuple[str, ...], rule: str = "word") -> list:
        return segment_positions(self.text_segments()[-1], prompts, words, rule)

    def freeu_input_scale(self, block: int, factors) -> float | None:
        return None

    def decode(self, latents: torch.Tensor) -> list:
        return decode_vae(self.pipe, latents)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return encode_vae(self.pipe, pixels).to(self.dtype)

    def invert_step(self, scheduler, i: int, latents: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The flow-matching Euler step run backwards: from sigma_{i+1} up to sigma_i along the velocity predicted at
        the less noisy latents (the counterpart of DDIM inversion for a rectified flow)."""
        sigmas = scheduler.sigmas
        return (latents.float() + (sigmas[i] - sigmas[i + 1]) * prediction.float()).to(latents.dtype)

    def _shift(self, image_seq_len: int, max_shift: float) -> float:
        """The timestep shift `mu` for an image of `image_seq_len` tokens, as the pipelines compute it."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        config = self.pipe.scheduler.config
        return calculate_shift(image_seq_len, config.get("base_image_seq_len", 256),
                               config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                               config.get("max_shift", max_shift))


class FluxBackbone(MMDiTBackbone):
    """FLUX.1: packed 2x2 latent patches, the guidance embedding (dev) or none (schnell), no CFG batch."""

    name = "flux"
    parts = ("double", "single")  # the dual-stream blocks, then the single-stream ones
    pipeline_text_len = 512

    @property
    def latent_channels(self) -> int:
        return self.transformer.config.in_channels // 4  # a token packs 2x2 latent cells

    @property
    def size_factor(self) -> int:
        return self.vae_factor * 2

    @property
    def defaults(self) -> dict:
        """FluxPipeline's own: 28 steps at guidance 3.5 for dev; schnell is distilled to 4 steps, no guidance."""
        return {"steps": 28, "guidance": 3.5} if self.transformer.config.guidance_embeds else {"steps": 4,
                                                                                            "guidance": 0.0}

    def encode(self, prompts: list[str], guidance: float, negative: str | None = None):
        from ..sampling import Conditioning

        if negative is not None:
            raise SvdStoryError("--negative-prompt is not yet supported on flux models (FLUX.1 is guidance-distilled)")
        with torch.no_grad():
            embeds, pooled, _ = self.pipe.encode_prompt(prompt=prompts, prompt_2=None, device=self.device,
                                                        num_images_per_prompt=1, max_sequence_length=self.text_len)
        return Conditioning(embeds, {"pooled": pooled}, BatchLayout(len(prompts), False))

    def set_timesteps(self, scheduler, steps: int, latent_hw: tuple[int, int]) -> None:
        """FluxPipeline's schedule: sigmas from 1 to 1/steps, shifted by the packed image's token count."""
        h, w = latent_hw
        mu = self._shift((h // 2) * (w // 2), 1.15)
        if scheduler.config.get("use_flow_sigmas"):
            scheduler.set_timesteps(steps, device=self.device, mu=mu)
        else:
            scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), device=self.device, mu=mu)
        scheduler.set_begin_index(0)

    def predict(self, model_in: torch.Tensor, timestep: torch.Tensor, cond, guidance: float) -> torch.Tensor:
        batch, _, h, w = model_in.shape
        embeds = cond.embeds
        strength = None
        if self.transformer.config.guidance_embeds:
            strength = torch.full([1], guidance, device=model_in.device, dtype=torch.float32).expand(batch)
        out = self.transformer(hidden_states=pack(model_in), timestep=timestep.expand(batch).to(model_in.dtype) / 1000,
                               guidance=strength, pooled_projections=cond.added["pooled"],
                               encoder_hidden_states=embeds, txt_ids=text_ids(embeds),
                               img_ids=image_ids(h // 2, w // 2, model_in.device, model_in.dtype),
                               return_dict=False)[0]
        return unpack(out, h, w)

    def sites(self) -> list[Site]:
        config = self.transformer.config
        double = [Site(f"transformer_blocks.{i}.attn.processor", "joint", "double", i, 1, self.text_len)
                  for i in range(config.num_layers)]
        return double + [Site(f"single_transformer_blocks.{i}.attn.processor", "joint", "single", i, 1,
                              self.text_len) for i in range(config.num_single_layers)]


class SD3Backbone(MMDiTBackbone):
    """SD3 and SD3.5: patchified latents, classifier-free guidance over a doubled batch."""

    name = "sd3"
    parts = ("joint",)  # the MMDiT blocks (SD3.5's second self-attention, attn2, sits in the same blocks)
    pipeline_text_len = 256
    text_first = False

    @property
    def latent_channels(self) -> int:
        return self.transformer.config.in_channels

    @property
    def text_offset(self) -> int:
        """StableDiffusion3Pipeline puts the CLIP encoders' tokens (padded to T5's width) before T5's."""
        return self.pipe.tokenizer_max_length

    @property
    def size_factor(self) -> int:
        return self.vae_factor * self.transformer.config.patch_size

    @property
    def defaults(self) -> dict:
        return {"steps": 28, "guidance": 7.0}  # StableDiffusion3Pipeline's own

    def encode(self, prompts: list[str], guidance: float, negative: str | None = None):
        """With no negative prompt the pipeline encodes "", as its own __call__ does."""
        from ..sampling import Conditioning

        cfg = guidance > 1.0
        negatives = None if negative is None else [negative] * len(prompts)
        with torch.no_grad():
            cond, uncond, pooled, uncond_pooled = self.pipe.encode_prompt(
                prompt=prompts, prompt_2=None, prompt_3=None, device=self.device, num_images_per_prompt=1,
                do_classifier_free_guidance=cfg, negative_prompt=negatives, max_sequence_length=self.text_len)
        embeds = torch.cat([uncond, cond]) if cfg else cond
        pooled = torch.cat([uncond_pooled, pooled]) if cfg else pooled
        return Conditioning(embeds, {"pooled": pooled}, BatchLayout(len(prompts), cfg))

    def set_timesteps(self, scheduler, steps: int, latent_hw: tuple[int, int]) -> None:
        """StableDiffusion3Pipeline's schedule: the checkpoint's shift, or a dynamic one by token count."""
        kwargs = {}
        if scheduler.config.get("use_dynamic_shifting", None):
            patch = self.transformer.config.patch_size
            kwargs["mu"] = self._shift((latent_hw[0] // patch) * (latent_hw[1] // patch), 1.16)
        scheduler.set_timesteps(steps, device=self.device, **kwargs)

    def predict(self, model_in: torch.Tensor, timestep: torch.Tensor, cond, guidance: float) -> torch.Tensor:
        return self.transformer(hidden_states=model_in, timestep=timestep.expand(model_in.shape[0]),
                                encoder_hidden_states=cond.embeds, pooled_projections=cond.added["pooled"],
                                return_dict=False)[0]

    def sites(self) -> list[Site]:
        """Each block's joint attention, then SD3.5's image-only second attention (`attn2`) where it has one."""
        blocks, level = self.transformer.transformer_blocks, self.transformer.config.patch_size.bit_length() - 1
        sites = []
        for i, block in enumerate(blocks):
            sites.append(Site(f"transformer_blocks.{i}.attn.processor", "joint", "joint", i, level,
                              self.text_offset + self.text_len))
            if getattr(block, "attn2", None) is not None:
                sites.append(Site(f"transformer_blocks.{i}.attn2.processor", "self", "joint", i, level, None))
        return sites


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) latents to FLUX's tokens (B, h/2 * w/2, 4C): one token per 2x2 patch, channels outermost."""
    b, c, h, w = latents.shape
    patches = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)  # (B, h/2, w/2, C, 2, 2)
    return patches.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The inverse of `pack`: (B, h/2 * w/2, 4C) to (B, C, h, w)."""
    b, _, channels = tokens.shape
    patches = tokens.view(b, h // 2, w // 2, channels // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)  # (B, C, h/2, 2, w/2, 2)
    return patches.reshape(b, channels // 4, h, w)


def image_ids(rows: int, cols: int, device, dtype) -> torch.Tensor:
    """FLUX's position ids of the packed image tokens: (0, row, column) for each, row-major, (rows*cols, 3)."""
    ids = torch.zeros(rows, cols, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(rows)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(cols)[None, :]
    return ids.reshape(rows * cols, 3).to(device=device, dtype=dtype)


def text_ids(embeds: torch.Tensor) -> torch.Tensor:
    """FLUX's position ids of the text tokens: all zeros, (L, 3)."""
    return torch.zeros(embeds.shape[1], 3, device=embeds.device, dtype=embeds.dtype)
