"""The anchors' tokens inside a batch: their keys side by side, and which of them each image may see."""
from __future__ import annotations

import torch

from ..profiling import ANCHOR_TOKENS, region
from .transfer import pick_images


def anchor_keys(x: torch.Tensor, layout, anchors: list[int]) -> torch.Tensor:
    """(chunks*n, H, T, d) -> (chunks, H, A*T, d): the anchors' tokens of each guidance chunk, side by side."""
    with region(ANCHOR_TOKENS):
        split = pick_images(layout.split(x), anchors)  # (c, A, H, T, d)
        c, a, h, t, d = split.shape
        return split.permute(0, 2, 1, 3, 4).reshape(c, h, a * t, d)


def allowed_anchor_tokens(share: torch.Tensor, anchors: list[int], n_images: int) -> torch.Tensor:
    """(n, A*T) bool: image i may see anchor a's token p if it is in a's (dropped-out) mask and a != i."""
    mask = pick_images(share.unsqueeze(0), anchors)[0].reshape(1, -1).expand(n_images, -1).clone()  # (n, A*T)
    T = share.shape[1]
    for slot, a in enumerate(anchors):
        if a < n_images:
            mask[a, slot * T:(slot + 1) * T] = False
    return mask
