"""Tiny randomly initialised CLIP and DINOv2 models (`--clip-model tiny`, `--dino-model tiny`), built in
code for tests and offline smoke runs; their numbers mean nothing. They are built in memory rather than
saved and reloaded: under torch.distributed, transformers saves a model on rank 0 only."""
from __future__ import annotations

from pathlib import Path

import torch

SIZE = 32  # input side in pixels


def tiny_clip_parts(seed: int = 0):
    """(CLIPModel, image processor, tokenizer) with random weights, the same for a given seed."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from ..tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer(max_length=32)
    torch.manual_seed(seed)
    text = dict(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=SIZE,
                  patch_size=8)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    return model, processor, tokenizer


def tiny_dino_parts(seed: int = 0):
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                          image_size=SIZE, patch_size=8)
    processor = BitImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    return Dinov2Model(config).eval(), processor


def save_parts(parts, folder: Path) -> Path:
    """A transformers folder (what `--clip-model PATH` loads): every part's save_pretrained."""
    for part in parts:
        part.save_pretrained(folder)
    return folder
