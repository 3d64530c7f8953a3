"""The photo's subject mask: what the photo's anchor shares is limited to the subject it marks.

A recorder (anchors.AnchorRecorder) that keeps, of every layer's shared tokens, those on the mask at that layer's
grid: all tokens for the mask-free methods (shared, svd, storydiffusion), ConsiStory's own subject tokens
(after mask dropout) within it; ConsiStory's recorded subject maps, which its extras' feature injection reads,
become the mask itself.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..anchors import AnchorRecorder
from ..attention.spatial import token_grid


class MaskedRecorder(AnchorRecorder):
    def __init__(self, mask: torch.Tensor, latent_hw: tuple[int, int], device: str | None = None):
        super().__init__(device)
        self.mask = mask.float()  # (H, W) in [0, 1], the photo's pixels at the run's size
        self.latent_hw = latent_hw

    def on_grid(self, grid: tuple[int, int]) -> torch.Tensor:
        """(h, w) float: the share of each cell of `grid` the mask covers."""
        return F.adaptive_avg_pool2d(self.mask[None, None], grid)[0, 0]

    def tokens_on_mask(self, n_tokens: int) -> torch.Tensor:
        """(T,) bool: the tokens of one image whose cell is mostly subject (the most covered one at least)."""
        cover = self.on_grid(token_grid(n_tokens, self.latent_hw)).flatten()
        return (cover > 0.5) | (cover == cover.max())

    def record_kv(self, key, tensors) -> None:
        """Keys and values (chunks, H, T, d) and hidden states (chunks, T, C) of the one anchor, on the mask."""
        n_tokens = tensors[0].shape[2]
        keep = self.tokens_on_mask(n_tokens).to(tensors[0].device)
        on_mask = lambda x: None if x is None else (x[:, :, keep] if x.ndim == 4 else x[:, keep])  # noqa: E731
        super().record_kv(key, tuple(on_mask(x) for x in tensors))

    def record_masked_kv(self, key, keys, values, share, layout) -> None:
        """ConsiStory's shared subject tokens (share: (n, T) bool), within the mask."""
        on_mask = self.tokens_on_mask(share.shape[1]).to(share.device)
        super().record_masked_kv(key, keys, values, share & on_mask[None], layout)

    def record_features(self, features: torch.Tensor, maps: torch.Tensor) -> None:
        """The maps (A, S, h, w) the extras' injection reads become the mask at their grid."""
        mask = self.on_grid(tuple(maps.shape[-2:])).to(maps.device, maps.dtype)
        super().record_features(features, mask.expand_as(maps).clone())
