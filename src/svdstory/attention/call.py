"""One attention call as a policy sees it: the projected tensors, the layer, and where its text and image
tokens sit; and plain SDPA over it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..backbones.base import Site


@dataclass
class AttnCall:
    """One attention call, already projected: tensors are (B, heads, tokens, head_dim). Policies read the
    layer through this object only, never through diffusers' modules.

    On a joint layer (FLUX, SD3) text and image tokens attend together in one sequence: `text_len` of its
    tokens are text, before the image tokens (FLUX) or after them (SD3); `image` and `text` slice them out.
    Elsewhere `text_len` is 0 and every query and key token is the call's own."""

    layer: Site  # the backbone's description of this attention layer
    project: Callable  # project(x (c, T, C)) -> keys, values (c, heads, T, d) as this layer makes them from x
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    grid: tuple[int, int]  # (h, w) of the image tokens
    hidden_states: torch.Tensor  # (B, h*w, C): the normalised image tokens the layer read
    attention_mask: torch.Tensor | None = None
    scale: float | None = None  # softmax scale (None: 1 / sqrt(head_dim), as SDPA's default)
    text_len: int = 0  # text tokens of a joint call
    text_first: bool = True  # where they sit in its sequence: first (FLUX) or last (SD3)

    @property
    def image(self) -> slice:
        """The image tokens of the call's sequence (all of them off a joint layer)."""
        return image_tokens(self.text_len, self.text_first)

    @property
    def text(self) -> slice:
        """The text tokens of a joint call's sequence."""
        return slice(0, self.text_len) if self.text_first else slice(self.key.shape[2] - self.text_len, None)

    @property
    def image_key(self) -> torch.Tensor:
        return self.key[:, :, self.image]  # (B, heads, h*w, d)

    @property
    def image_value(self) -> torch.Tensor:
        return self.value[:, :, self.image]


def image_tokens(text_len: int, text_first: bool) -> slice:
    """The image tokens of a sequence of `text_len` text tokens (first or last) and the image's."""
    if not text_len:
        return slice(None)
    return slice(text_len, None) if text_first else slice(0, -text_len)


def sdpa(call: AttnCall) -> torch.Tensor:
    return F.scaled_dot_product_attention(call.query, call.key, call.value, attn_mask=call.attention_mask,
                                          scale=call.scale)
