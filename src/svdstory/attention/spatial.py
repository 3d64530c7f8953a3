"""Recover the 2-D grid of an attention layer's tokens without assuming square maps."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import SvdStoryError


def token_grid(n_tokens: int, latent_hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of a layer whose n_tokens come from the latent downsampled k times by stride-2 convs."""
    h, w = latent_hw
    for _ in range(12):
        if h * w == n_tokens:
            return h, w
        h, w = (h + 1) // 2, (w + 1) // 2  # a 3x3 stride-2 conv with padding 1 rounds up
    raise SvdStoryError(f"cannot place {n_tokens} attention tokens on a {latent_hw} latent grid")


@dataclass(frozen=True)
class LayerInfo:
    """Where an attention layer sits, read from its module name (never from call order)."""

    name: str  # e.g. "up_blocks.1.attentions.0.transformer_blocks.0.attn1.processor"
    part: str  # "down" | "mid" | "up"
    block: int  # index of the down/up block (0 for mid)
    is_cross: bool  # attn2 is cross-attention in diffusers' transformer blocks

    @classmethod
    def from_name(cls, name: str) -> "LayerInfo":
        head = name.split(".")
        part = {"down_blocks": "down", "mid_block": "mid", "up_blocks": "up"}.get(head[0], head[0])
        block = int(head[1]) if part in ("down", "up") and head[1].isdigit() else 0
        return cls(name=name, part=part, block=block, is_cross=".attn2." in f".{name}")

    def within(self, parts) -> bool:
        """True if `parts` names this layer's part ("up") or its block ("up.0")."""
        return self.part in parts or f"{self.part}.{self.block}" in parts


_PART = re.compile(r"(down|up|double|single|joint)(\.\d+)?|mid")


def check_parts(parts, option: str) -> None:
    """UNet parts are down, mid, up, or one block of down/up such as up.0 (SDXL's 32x32 decoder block); FLUX's
    are double and single (its dual- and single-stream blocks), SD3's joint (its MMDiT blocks), or one block
    such as double.3. Which of them a model has is checked against its layers when it runs (`check_parts_match`)."""
    bad = [p for p in parts if not _PART.fullmatch(p)]
    if bad or not parts:
        raise SvdStoryError(f"option {option} must be among down, mid, up (UNet), double, single (FLUX), joint (SD3) "
                            f"or a block such as up.0; got {list(parts)}")


def check_parts_match(parts, layers, option: str) -> None:
    """Fail in one line if `parts` selects none of the self-attention `layers` of this model."""
    own = [layer for layer in layers if not layer.is_cross]
    if own and not any(layer.within(parts) for layer in own):
        blocks = sorted({layer.part if layer.part == "mid" else f"{layer.part}.{layer.block}" for layer in own})
        raise SvdStoryError(f"option {option}={','.join(parts)} selects no attention layer of this model "
                            f"(its attention blocks: {', '.join(blocks)})")
