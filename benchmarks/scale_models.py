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


def _encoder(tokenizer, hidden: int, projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=256,
                            num_hidden_layers=2, num_attention_heads=8, max_position_embeddings=77,
                            projection_dim=1280, bos_token_id=0, eos_token_id=1, pad_token_id=1)
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
    return StableDiffusionXLPipeline(vae=vae, text_encoder=_encoder(tokenizer, 768, False), tokenizer=tokenizer,
                                     text_encoder_2=_encoder(tokenizer, 1280, True), tokenizer_2=tokenizer,
                                     unet=unet, scheduler=scheduler, force_zeros_for_empty_prompt=False)
