"""ConsiStory's sharing pattern: the subject tokens each image shares at a grid this step (its masks after
mask dropout), and which of the anchors' tokens every image may see, as `SharedTokens`.

The pattern is read on the host once per step and grid. `prefetch` queues its copy to the host at the
start of a step; the first SDSA layer (in the decoder, by default) reads it: by then the host has queued
the layers before it, so the wait leaves the GPU busy. Read at the start of the step, the wait would empty
the GPU's queue between steps; computed at the first SDSA layer, the copy would wait for those layers too.
(A grid's first SDSA step, before the grid is known, computes and reads its pattern there.)
"""
from __future__ import annotations

import torch

from ...attention.extended import SharedTokens, allowed_anchor_tokens, compact, pack, packs
from ...attention.transfer import HostCopy, to_host_later
from ...profiling import SHARE_PATTERN, region


def dropout_seed(image_seed: int, step: int, grid: tuple[int, int]) -> int:
    """Mask dropout's draw, keyed by image seed, step and grid (not by pass, batch or stage)."""
    return (image_seed * 1_000_003 + step * 7919 + grid[0] * 31 + grid[1]) % 2**63


def dropout_keep(n_tokens: int, rate: float, seed: int, device) -> torch.Tensor:
    """A keep-mask for mask dropout, drawn from its own generator so a batch split changes nothing; moved
    to `device` without making the host wait for a GPU's queue."""
    if rate <= 0:
        return torch.ones(n_tokens, dtype=torch.bool, device=device)
    draw = torch.rand(n_tokens, generator=torch.Generator("cpu").manual_seed(seed))
    return (draw >= rate).to(device, non_blocking=True)


class SharePattern:
    """The tokens shared at each grid during one step of one run."""

    def __init__(self, seeds, anchors, dropout: float):
        self.seeds = seeds  # per image, for mask dropout
        self.anchors = anchors  # image indices (in this batch) whose subject tokens are shared
        self.dropout = dropout
        self.grids: set[tuple[int, int]] = set()  # grids where SDSA ran (their patterns are queued early)
        self._masks: dict[tuple[int, int], torch.Tensor] = {}  # this step's (n, T) shared tokens, on the device
        self._queued: dict[tuple[int, int], HostCopy] = {}  # ... on their way to the host
        self._shared: dict[tuple[int, int], HostCopy] = {}  # ... on the host
        self._ready: dict[tuple, SharedTokens] = {}  # ... as extended attention reads them, by (grid, packed)

    def share_mask(self, subject_masks, grid, step: int) -> torch.Tensor:
        """(n, T) bool: the tokens each image shares (union of its subjects), after mask dropout.
        `subject_masks(grid)` gives the (n, S, T) masks where this step has not built them yet."""
        if grid not in self._masks:
            masks = subject_masks(grid).any(1)
            keep = [dropout_keep(masks.shape[1], self.dropout, dropout_seed(self.seeds[i], step, grid), masks.device)
                    for i in range(masks.shape[0])]
            self._masks[grid] = masks & torch.stack(keep)
        return self._masks[grid]

    def prefetch(self, subject_masks, step: int, n_images: int) -> None:
        """Queue the patterns of every grid known to share, and their copies to the host."""
        for grid in self.grids:
            self._queued[grid] = self._to_host(subject_masks, grid, step, n_images)

    def tokens(self, subject_masks, grid, query: torch.Tensor, state, packs_own: bool = True) -> SharedTokens:
        """The anchors' tokens each image may see at `grid`: packed for one variable-length call where that
        kernel runs, else compacted into groups. packs_own: the layer's own tokens are the grid's image tokens
        alone, which the packed form indexes (not so on a joint layer, whose sequence holds text tokens too)."""
        self.grids.add(grid)
        form = (grid, packs_own and packs(query, state.attention_chunk))
        if form not in self._ready:
            with region(SHARE_PATTERN):
                queued = self._queued.pop(grid, None) or self._shared.get(grid) or self._to_host(
                    subject_masks, grid, state.step, state.layout.n_images)
                self._shared[grid] = queued
                share = queued.get()  # waits only for the work queued before the copy
                self._ready[form] = (pack(share, self.anchors, state.layout, grid[0] * grid[1], query.device)
                                     if form[1] else compact(share, query.device))
        return self._ready[form]

    def _to_host(self, subject_masks, grid, step, n_images) -> HostCopy:
        share = allowed_anchor_tokens(self.share_mask(subject_masks, grid, step), self.anchors, n_images)
        return to_host_later(share)

    def end_step(self) -> None:
        self._masks, self._queued, self._shared, self._ready = {}, {}, {}, {}

    def snapshot(self) -> dict:
        return {"grids": set(self.grids)}

    def restore(self, snapshot: dict) -> None:
        self.grids = set(snapshot["grids"])
        self.end_step()
