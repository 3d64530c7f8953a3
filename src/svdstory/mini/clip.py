"""The mini CLIP (world v2): a transformers `CLIPModel` trained contrastively on SynthWorld renders
and captions, then frozen. Its text tower is the mini SD's text encoder (a `CLIPTextModel`, 77
positions, padded with the end token as SD pads); its vision tower embeds images for metrics.

`word_carrying` measures what the v1 text encoder lacked: whether a word's output vector says which
word it is, wherever the word stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from svdstory.mini.tokenizer import build_tokenizer

# images are normalised with CLIP's own statistics, as a real CLIP checkpoint's processor does
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class MiniCLIPConfig:
    """Sizes of both towers; the defaults are the model meant to ship with world v2."""

    image_size: int = 128
    patch_size: int = 8          # 16 x 16 patches: eyes and patterns are a few pixels wide
    text_width: int = 192        # = the mini SD's cross-attention dim (v1's text width)
    text_layers: int = 4
    text_heads: int = 4
    text_ffn: int = 768
    vision_width: int = 192
    vision_layers: int = 4
    vision_heads: int = 4
    vision_ffn: int = 768
    projection_dim: int = 128
    max_length: int = 77         # SD's context; a 1Prompt1Story prompt of several scenes fits


def tiny_clip_config() -> MiniCLIPConfig:
    """A ~0.1M-parameter CLIP at 64 px for CPU smoke tests."""
    return MiniCLIPConfig(image_size=64, patch_size=16, text_width=32, text_layers=2, text_heads=2, text_ffn=64,
                          vision_width=32, vision_layers=2, vision_heads=2, vision_ffn=64, projection_dim=32)


def clip_config_from_dict(data: dict) -> MiniCLIPConfig:
    return MiniCLIPConfig(**data)


def clip_tokenizer(max_length: int = 77):
    """A `CLIPTokenizer` in which every v1 and v2 caption word is one token (tokenizer.tokenizer_files)."""
    from svdstory.world.captions_v2 import vocabulary_v2

    return build_tokenizer(vocabulary_v2(), max_length)


def build_clip(cfg: MiniCLIPConfig, tokenizer):
    from transformers import CLIPConfig, CLIPModel

    text = dict(vocab_size=len(tokenizer), hidden_size=cfg.text_width, intermediate_size=cfg.text_ffn,
                num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
                max_position_embeddings=cfg.max_length, hidden_act="quick_gelu", projection_dim=cfg.projection_dim,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=cfg.vision_width, intermediate_size=cfg.vision_ffn, num_hidden_layers=cfg.vision_layers,
                  num_attention_heads=cfg.vision_heads, image_size=cfg.image_size, patch_size=cfg.patch_size,
                  hidden_act="quick_gelu", projection_dim=cfg.projection_dim)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=cfg.projection_dim))


def text_tower(clip) -> "CLIPTextModel":  # noqa: F821
    """The text tower as a stand-alone `CLIPTextModel` (what `StableDiffusionPipeline` loads), same weights."""
    from transformers import CLIPTextModel

    model = CLIPTextModel(clip.config.text_config)
    model.load_state_dict(clip.text_model.state_dict())
    return model


def pixel_values(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> CLIP's normalised input at `size`."""
    import torch.nn.functional as F

    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGE_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def default_clip_path() -> Path:
    """The bundled mini CLIP's folder (`--clip-model bundled:clip`)."""
    return Path(__file__).resolve().parents[1] / "assets" / "clip"


def load_clip(folder: str | Path):
    """(CLIPModel, tokenizer) from an exported folder (laid out as a hub CLIP checkpoint), in eval mode."""
    from transformers import CLIPModel, CLIPTokenizer

    folder = Path(folder)
    model = CLIPModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    return model, CLIPTokenizer.from_pretrained(str(folder))


# ---------------------------------------------------------------- the word-carrying check

# Contexts in which the subject word stands at different positions; all words are v1 caption words
# too, so a world v1 text encoder can be measured with the same sentences.
CARRY_TEMPLATES = ("a {} in a forest", "the red {} on a beach", "a photo of a {} in the snow",
                   "a picture of the striped {} in a city", "a photo of a purple spotted {} in a room")


@torch.no_grad()
def word_carrying(text_model, tokenizer, words, templates=CARRY_TEMPLATES) -> dict:
    """Do the text encoder's outputs carry their words?

    For every template t and word w, the output at w's position is compared (cosine) with w's
    output in the other templates (same word, other positions and contexts) and with the other
    words' outputs in t (other words, same position and context). Returns the mean of each,
    `carried`: the share of (t, w) whose same-word similarity beats the best other-word one
    (`carried_mean`: beats the mean), and the positions used.
    """
    from torch.nn.functional import normalize

    vectors, positions = [], []
    for template in templates:
        texts = [template.format(w) for w in words]
        batch = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                          return_tensors="pt")
        out = text_model(batch.input_ids)[0]  # (W, L, D) last hidden state: what the UNet attends to
        pos = len(tokenizer(template.split("{}")[0].strip()).input_ids) - 1 if template.index("{}") else 1
        word_ids = [tokenizer.convert_tokens_to_ids(w + "</w>") for w in words]
        if batch.input_ids[:, pos].tolist() != word_ids:
            raise ValueError(f"template {template!r}: the word is not one token at position {pos}")
        vectors.append(normalize(out[:, pos].float(), dim=-1))
        positions.append(pos)
    v = torch.stack(vectors)  # (T, W, D)
    n_t, n_w = v.shape[:2]
    same, other, other_best = [], [], []
    for t in range(n_t):
        sim_same = torch.einsum("wd,swd->ws", v[t], v)  # (W, T): word w at t vs w at every template
        keep = torch.ones(n_t, dtype=torch.bool)
        keep[t] = False
        same.append(sim_same[:, keep].mean(1))
        sim_other = v[t] @ v[t].T  # (W, W): words at the same position
        sim_other.fill_diagonal_(float("nan"))
        other.append(sim_other.nanmean(1))
        other_best.append(sim_other.nan_to_num(-2).max(1).values)
    same, other, other_best = torch.stack(same), torch.stack(other), torch.stack(other_best)  # (T, W)
    return {"same_word_other_position": round(same.mean().item(), 4),
            "other_word_same_position": round(other.mean().item(), 4),
            "carried": round((same > other_best).float().mean().item(), 4),
            "carried_mean": round((same > other).float().mean().item(), 4),
            "positions": positions, "words": list(words)}
