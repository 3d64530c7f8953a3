"""ConsiStory's subject maps: cross-attention to the subject's tokens, recorded per layer, computed for
several layers in one product, averaged over layers and recent steps; the subject masks they give."""
from __future__ import annotations

import copy
import math
from collections import deque

import torch

from ...attention.transfer import to_device
from ...masks import binarize, resize_maps
from ...profiling import SUBJECT_MAPS, SUBJECT_MASKS, region

# Cross-attention layers whose maps are computed together: a group is computed once its layers' scores
# reach this many (2^26: 11 of SDXL's 32x32 layers for 4 images). Until then each layer's query tensor
# stays alive (both guidance halves: 21 MB at 32x32 for 4 images); the product then holds the group's
# logits in half precision and their softmax in float32 (256 MiB).
MAP_BATCH_SCORES = 2**26


class MapAccumulator:
    """Collects subject-token cross-attention maps of one resolution; averages layers and recent steps."""

    def __init__(self, window: int):
        self.window = window
        self.total: torch.Tensor | None = None  # this step's maps, summed over its layers so far
        self.layers = 0  # ... and how many layers that sum holds
        self.history: deque = deque(maxlen=window)  # per-step layer averages

    def add(self, maps: torch.Tensor, layers: int = 1) -> None:
        """Add (n, S, h, w) maps: one layer's, or the sum of `layers` layers' maps."""
        maps = maps.float()
        self.total = maps if self.total is None else self.total + maps
        self.layers += layers

    def end_step(self) -> None:
        if self.layers:
            self.history.append(self.total / self.layers)
            self.total, self.layers = None, 0

    def average(self) -> torch.Tensor | None:
        """(n, S, h, w) mean over the layers and the last `window` steps, or None before any step."""
        return torch.stack(list(self.history)).mean(0) if self.history else None


def token_selector(positions: list[list[list[int]]], n_images: int, length: int) -> torch.Tensor:
    """(n, L, S) float on the host: 1 where text token p is one of subject s's sub-tokens in image i."""
    selector = torch.zeros(n_images, length, len(positions))
    for s, per_image in enumerate(positions):
        for i, pos in enumerate(per_image):
            selector[i, pos, s] = 1.0
    return selector


def token_maps(probs: torch.Tensor, positions, grid: tuple[int, int]) -> torch.Tensor:
    """Cross-attention probabilities (n, heads, T, L) -> per-subject maps (n, S, h, w) (sub-tokens summed).

    `positions`: [subject][image] token positions, or their `token_selector` already on the device
    (one product then, with no index list to copy to the GPU at every layer)."""
    mean = probs.float().mean(1)  # (n, T, L)
    if not isinstance(positions, torch.Tensor):
        positions = token_selector(positions, mean.shape[0], mean.shape[2]).to(mean.device)
    maps = mean @ positions  # (n, T, S)
    return maps.transpose(1, 2).reshape(mean.shape[0], positions.shape[2], *grid)


class SubjectMaps:
    """Per-subject cross-attention maps of one run; `average` is their mean over the previous steps."""

    def __init__(self, positions, window: int, mask_factor: int, batch_scores: int | None = None):
        self.positions = positions  # [subject][image] token positions
        self.window = window  # steps averaged
        self.mask_factor = mask_factor  # the maps read are those nearest latent / mask_factor
        self.batch_scores = MAP_BATCH_SCORES if batch_scores is None else batch_scores
        self.by_grid: dict[tuple[int, int], MapAccumulator] = {}
        self.average: torch.Tensor | None = None  # (n, S, h, w) maps of the previous steps
        self._selectors: dict = {}
        self._held: dict[tuple, list] = {}  # conditional (q, k, mask) per group, waiting for one product

    def grid(self, latent_hw) -> tuple[int, int] | None:
        """The captured grid closest to latent / mask_factor (32x32 for SDXL at 1024 px)."""
        if not self.by_grid:
            return None
        target = math.log2(max(latent_hw[0] / self.mask_factor, 1))
        return min(self.by_grid, key=lambda g: (abs(math.log2(g[0]) - target), -g[0]))

    def masks(self, grid) -> torch.Tensor:
        """(n, S, h*w) bool masks at a layer's grid, from the maps of the previous steps."""
        with region(SUBJECT_MASKS):
            return binarize(resize_maps(self.average, grid)).flatten(2)

    def record(self, call, layout, latent_hw) -> None:
        """Hold this cross-attention layer's conditional queries and keys for a product batched over layers."""
        if self.by_grid and self.grid(latent_hw) != call.grid and call.grid in self.by_grid:
            return  # only the maps of `grid()` are ever read; the others were needed only to find it
        with region(SUBJECT_MAPS):
            self.by_grid.setdefault(call.grid, MapAccumulator(self.window))
            q, k = layout.cond(call.query), layout.cond(call.key)  # (n, H, T, d), (n, H, L, d)
            mask = None if call.attention_mask is None else layout.cond(call.attention_mask)
            group = (call.grid, call.scale, tuple(q.shape), tuple(k.shape),
                     None if mask is None else tuple(mask.shape))
            waiting = self._held.setdefault(group, [])
            waiting.append((q, k, mask))
            if len(waiting) * q.shape[:-1].numel() * k.shape[-2] >= self.batch_scores:
                self._compute(group)

    def held_layers(self) -> int:
        """Layers recorded whose maps wait for their group's product."""
        return sum(len(waiting) for waiting in self._held.values())

    def end_step(self, latent_hw) -> None:
        """Compute what is held, close the step's maps and update `average`."""
        with region(SUBJECT_MAPS):
            for group in list(self._held):
                self._compute(group)
        for acc in self.by_grid.values():
            acc.end_step()
        grid = self.grid(latent_hw)
        if grid is not None:
            self.average = self.by_grid[grid].average()

    def _compute(self, group) -> None:
        """The maps of a group's held layers: one product, softmax and sum. Logits in the model's precision
        (as the attention itself computes them), softmax in float32."""
        waiting = self._held.pop(group)
        grid, scale = group[:2]
        scores = torch.stack([q for q, _, _ in waiting]) @ torch.stack([k for _, k, _ in waiting]).transpose(-1, -2)
        scores.mul_(scale)  # (layers, n, H, T, L)
        if waiting[0][2] is not None:
            scores.add_(torch.stack([m for _, _, m in waiting]))
        probs = scores.softmax(-1, dtype=torch.float32).sum(0)  # (n, H, T, L), summed over the layers
        self.by_grid[grid].add(token_maps(probs, self._selector(probs), grid), layers=len(waiting))

    def _selector(self, scores: torch.Tensor) -> torch.Tensor:
        """The subjects' token selector for these (n, H, T, L) scores, built once per length and device."""
        key = (scores.shape[-1], scores.device)
        if key not in self._selectors:
            selector = token_selector(self.positions, scores.shape[0], scores.shape[-1])
            self._selectors[key] = to_device(selector, scores.device)
        return self._selectors[key]

    def snapshot(self) -> dict:
        return {"by_grid": copy.deepcopy(self.by_grid), "average": self.average}

    def restore(self, snapshot: dict) -> None:
        self.by_grid, self.average = copy.deepcopy(snapshot["by_grid"]), snapshot["average"]
        self._held = {}
