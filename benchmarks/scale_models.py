"""Pipelines for cost benchmarks: the real SDXL UNet architecture with random weights (weights do
not change the cost), tiny text encoders that produce SDXL-shaped conditioning, a tiny VAE."""
from __future__ import annotations

import torch

SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, norm_num_groups=32,
)

_VAE_BLOCKS = dict(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                   latent_channels=4, scaling_factor=0.13025)
SDXL_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, sample_size=1024,
                **_VAE_BLOCKS)  # sample_size sets the tile size of VAE tiling, as in SDXL's config
TINY_VAE = dict(block_out_channels=(16, 32, 32, 32), norm_num_groups=8, **_VAE_BLOCKS)


def _encoder(tokenizer, hidden: int, projection: int | None = None):
    """A 2-layer CLIP text encoder of the real one's width (and pooled projection), random weights."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=256,
                            num_hidden_layers=2, num_attention_heads=8, max_position_embeddings=77,
                            projection_dim=projection or hidden, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def sdxl_scale_pipeline(seed: int = 0, device: str = "cpu", dtype=torch.float32, full_vae: bool = True):
    """StableDiffusionXLPipeline: SDXL-base UNet (2.6B params, random), text encoders of SDXL's widths
    but 2 layers, and SDXL's VAE architecture (84M params, random; `full_vae=False`: a 4-level VAE of
    16-32 channels). The UNet dominates the time, as in real SDXL; the VAE decode is a memory peak."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    from svdstory.tiny import tiny_tokenizer

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(max_length=77)
    with torch.device(device):  # random init of 2.6B parameters is minutes on a CPU, seconds on a GPU
        unet = UNet2DConditionModel(**SDXL_UNET).to(dtype).eval()
        vae = AutoencoderKL(**(SDXL_VAE if full_vae else TINY_VAE)).to(dtype).eval()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=_encoder(tokenizer, 768), tokenizer=tokenizer,
                                     text_encoder_2=_encoder(tokenizer, 1280, 1280), tokenizer_2=tokenizer,
                                     unet=unet, scheduler=scheduler, force_zeros_for_empty_prompt=False)


# The DiTs' denoisers at their published sizes (random weights), for issue 24's cost table.
FLUX_DEV_TRANSFORMER = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                            guidance_embeds=True, axes_dims_rope=(16, 56, 56))  # 11.9 B parameters
SD35_MEDIUM_TRANSFORMER = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
                               num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                               pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=384,
                               qk_norm="rms_norm", dual_attention_layers=tuple(range(13)))  # 2.5 B parameters
_FLOW_VAE = dict(block_out_channels=(16, 32, 32, 32), norm_num_groups=8, latent_channels=16, sample_size=1024,
                 down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)


def _t5(tokenizer, hidden: int = 4096):
    """A 2-layer T5 encoder of T5-XXL's width (4096), narrow inside, random weights: the text length and the
    width the transformer reads are real, the encoder's own cost is not (it runs once a prompt)."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=len(tokenizer), d_model=hidden, d_ff=256, d_kv=32, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5EncoderModel(config).eval()


def flux_scale_pipeline(seed: int = 0, device: str = "cpu", dtype=torch.float32):
    """FluxPipeline: FLUX.1-dev's transformer (guidance embedding, dynamic shift), tiny text encoders of its
    widths (T5 at 512 tokens), a 16-channel VAE of factor 8 with small convolutions."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    from svdstory.tiny import tiny_t5_tokenizer, tiny_tokenizer

    torch.manual_seed(seed)
    tokenizer, t5_tokenizer = tiny_tokenizer(max_length=77), tiny_t5_tokenizer(max_length=512)
    with torch.device(device):
        transformer = FluxTransformer2DModel(**FLUX_DEV_TRANSFORMER).to(dtype).eval()
        vae = AutoencoderKL(**_FLOW_VAE, scaling_factor=0.3611, shift_factor=0.1159).to(dtype).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=_encoder(tokenizer, 768), tokenizer=tokenizer,
                        text_encoder_2=_t5(t5_tokenizer), tokenizer_2=t5_tokenizer, transformer=transformer)


def sd35_scale_pipeline(seed: int = 0, device: str = "cpu", dtype=torch.float32):
    """StableDiffusion3Pipeline: SD3.5-medium's transformer, tiny CLIP-L / CLIP-G / T5 of their widths (T5 at 256
    tokens), a 16-channel VAE of factor 8 with small convolutions."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    from svdstory.tiny import tiny_t5_tokenizer, tiny_tokenizer

    torch.manual_seed(seed)
    tokenizer, t5_tokenizer = tiny_tokenizer(max_length=77), tiny_t5_tokenizer(max_length=256)
    with torch.device(device):
        transformer = SD3Transformer2DModel(**SD35_MEDIUM_TRANSFORMER).to(dtype).eval()
        vae = AutoencoderKL(**_FLOW_VAE, scaling_factor=1.5305, shift_factor=0.0609).to(dtype).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=_encoder(tokenizer, 768, 768), tokenizer=tokenizer, text_encoder_2=_encoder(tokenizer, 1280, 1280),
        tokenizer_2=tokenizer, text_encoder_3=_t5(t5_tokenizer), tokenizer_3=t5_tokenizer)
