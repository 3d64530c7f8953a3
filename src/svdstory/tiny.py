"""Tiny randomly initialised SD, SDXL, FLUX.1 and SD3 pipelines built in code: for tests and offline smoke runs."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

_WORDS = ["a", "an", "the", "photo", "of", "in", "on", "at", "with", "and", "red", "blue", "green", "cat", "cats",
          "dog", "bus", "buses", "box", "mug", "fox", "leopard", "dolphin", "beach", "forest", "city", "snow",
          "desert", "night", "room", "hat", "wearing", "watercolor", "painting", "teddy", "bear", "big"]


def tiny_tokenizer(max_length: int = 24):
    """A CLIP tokenizer over a small word list (whole words, plus characters for any other word)."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(".,'!?-0123456789")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for piece in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(piece, len(vocab))
    merges = []
    for word in _WORDS:
        current = word[0]
        for i, ch in enumerate(word[1:], start=1):
            right = ch + ("</w>" if i == len(word) - 1 else "")
            merges.append(f"{current} {right}")
            current = current + right
            vocab.setdefault(current, len(vocab))
    # "dolphin" deliberately lacks a merge for its tail so that tests see a multi-token word
    merges = [m for m in dict.fromkeys(merges) if m != "dolphi n</w>"]
    with tempfile.TemporaryDirectory(prefix="svdstory-tok-") as tmp:  # the tokenizer reads both files at once
        folder = Path(tmp)
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length,
                             pad_token="<|endoftext|>")


def _text_encoder(vocab_size: int, projection: bool, hidden: int = 32, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=32, projection_dim=hidden,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


TINY_SIDE = 32  # pixels: the tiny UNet's sample size 16 through the tiny VAE's factor 2


def tiny_scheduler():
    """SD's DDIM settings (1000 training timesteps, steps_offset 1), as the tiny pipelines use."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def tiny_pipeline(sdxl: bool = False, seed: int = 0):
    """SD- or SDXL-architecture pipeline with cross-attention at two resolutions, random weights."""
    from diffusers import (AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline,
                           UNet2DConditionModel)

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet_kwargs = dict(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
                       down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                       up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                       cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    if sdxl:
        unet_kwargs.update(cross_attention_dim=64, addition_embed_type="text_time", addition_time_embed_dim=8,
                           projection_class_embeddings_input_dim=8 * 6 + 32, transformer_layers_per_block=(1, 2))
    unet = UNet2DConditionModel(**unet_kwargs).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=8, sample_size=32).eval()
    scheduler = tiny_scheduler()
    if not sdxl:
        return StableDiffusionPipeline(vae=vae, text_encoder=_text_encoder(len(tokenizer), False), tokenizer=tokenizer,
                                       unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=_text_encoder(len(tokenizer), False), tokenizer=tokenizer,
                                     text_encoder_2=_text_encoder(len(tokenizer), True, seed=1), tokenizer_2=tokenizer,
                                     unet=unet, scheduler=scheduler, force_zeros_for_empty_prompt=False)


def tiny_t5_tokenizer(max_length: int = 32):
    """A T5 (unigram) tokenizer over the same word list, built offline: whole words, else characters."""
    from transformers import T5Tokenizer

    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(".,'!?-0123456789")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [("\u2581" + word, -1.0) for word in _WORDS] + [(c, -5.0) for c in chars]
    pieces += [("\u2581" + c, -5.0) for c in chars]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def _t5_encoder(vocab_size: int, hidden: int, seed: int):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab_size, d_model=hidden, d_ff=2 * hidden, d_kv=8, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5EncoderModel(config).eval()


def _flow_vae(seed: int, scaling: float, shift: float):
    """A tiny VAE with a DiT's latent scaling and shift (factor 2, 4 latent channels)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=8, sample_size=32, scaling_factor=scaling, shift_factor=shift).eval()


def tiny_flux_pipeline(schnell: bool = False, seed: int = 0):
    """FLUX.1-architecture pipeline (dev: guidance embedding, dynamic shift; schnell: neither), random weights."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    tokenizer, t5_tokenizer = tiny_tokenizer(), tiny_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, guidance_embeds=not schnell,
                                         axes_dims_rope=(4, 6, 6)).eval()
    shift = dict(shift=1.0, use_dynamic_shifting=False) if schnell else dict(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
        max_image_seq_len=4096)
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**shift), vae=_flow_vae(seed + 1, 0.3611, 0.1159),
                        text_encoder=_text_encoder(len(tokenizer), False), tokenizer=tokenizer,
                        text_encoder_2=_t5_encoder(len(t5_tokenizer), 32, seed + 2), tokenizer_2=t5_tokenizer,
                        transformer=transformer)


def tiny_sd3_pipeline(seed: int = 0):
    """SD3.5-medium-architecture pipeline: two CLIP encoders and T5, an MMDiT of two blocks with RMS-normed
    queries and keys, the first with SD3.5's second, image-only attention (`attn2`); random weights."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer, t5_tokenizer = tiny_tokenizer(), tiny_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=8,
                                        num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32,
                                        pooled_projection_dim=64, out_channels=4, pos_embed_max_size=32,
                                        qk_norm="rms_norm", dual_attention_layers=(0,)).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_flow_vae(seed + 1, 1.5305, 0.0609), text_encoder=_text_encoder(len(tokenizer), True),
        tokenizer=tokenizer, text_encoder_2=_text_encoder(len(tokenizer), True, seed=1), tokenizer_2=tokenizer,
        text_encoder_3=_t5_encoder(len(t5_tokenizer), 64, seed + 2), tokenizer_3=t5_tokenizer)


def tiny_model_pipeline(name: str):
    """The tiny pipeline a model name in models.TINY stands for."""
    if name == "tiny-flux" or name == "tiny-flux-schnell":
        return tiny_flux_pipeline(schnell=name.endswith("schnell"))
    if name == "tiny-sd3":
        return tiny_sd3_pipeline()
    return tiny_pipeline(sdxl=name == "tiny-sdxl")
