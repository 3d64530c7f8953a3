"""Subject masks from cross-attention maps: averaging over layers and recent steps, Otsu thresholds."""
from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F


def otsu_thresholds(rows: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Otsu's threshold (maximum between-class variance) of each row of `rows (R, N)`, batched and
    computed on the rows' device without reading anything back: (R,) float32.

    Non-finite values are ignored; a row with no finite value gets +inf, a constant row its value.
    The threshold is the centre of the last "low" bin of a `bins`-bin histogram over [min, max], as the
    ConsiStory release has it (scikit-image's `threshold_otsu`); values above it are "high".
    """
    rows = rows.detach().float()
    finite = torch.isfinite(rows)
    lo = torch.where(finite, rows, float("inf")).amin(dim=1)
    hi = torch.where(finite, rows, float("-inf")).amax(dim=1)
    width = (hi - lo).clamp_min(1e-12)
    position = ((rows - lo[:, None]) / width[:, None] * bins).nan_to_num(0.0).clamp(0, bins - 1)
    hist = torch.zeros(rows.shape[0], bins, dtype=torch.float64, device=rows.device)
    hist.scatter_add_(1, position.long(), finite.double())
    hist = hist / hist.sum(dim=1, keepdim=True).clamp_min(1)
    centers = (torch.arange(bins, dtype=torch.float64, device=rows.device) + 0.5) / bins  # in units of width
    weight_low, mean_low = hist.cumsum(1), (hist * centers).cumsum(1)
    between = (mean_low[:, -1:] * weight_low - mean_low) ** 2 / (weight_low * (1 - weight_low)).clamp_min(1e-12)
    between = between.masked_fill(weight_low >= 1 - 1e-12, -1)  # a split must leave both classes non-empty
    k = between.argmax(dim=1)
    threshold = lo + (k.float() + 0.5) * width / bins
    threshold = torch.where(hi - lo < 1e-12, hi, threshold)
    return torch.where(finite.any(dim=1), threshold, float("inf"))


def otsu_threshold(values: torch.Tensor, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D set of values (see `otsu_thresholds`)."""
    return float(otsu_thresholds(values.reshape(1, -1), bins)[0])


def binarize(maps: torch.Tensor) -> torch.Tensor:
    """(..., h, w) maps -> bool masks, each map thresholded by Otsu after min-max normalisation."""
    flat = maps.reshape(-1, maps.shape[-2] * maps.shape[-1]).float()
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    norm = (flat - lo) / (hi - lo).clamp_min(1e-12)
    return (norm > otsu_thresholds(norm)[:, None]).reshape(maps.shape)


def resize_maps(maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(n, S, h, w) -> (n, S, *grid), bilinear."""
    if tuple(maps.shape[-2:]) == tuple(grid):
        return maps.float()
    return F.interpolate(maps.float(), size=grid, mode="bilinear", align_corners=False)


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


def dropout_keep(n_tokens: int, rate: float, seed: int, device) -> torch.Tensor:
    """A keep-mask for mask dropout, drawn from its own generator so a batch split changes nothing; moved
    to `device` without making the host wait for a GPU's queue."""
    if rate <= 0:
        return torch.ones(n_tokens, dtype=torch.bool, device=device)
    draw = torch.rand(n_tokens, generator=torch.Generator("cpu").manual_seed(seed))
    return (draw >= rate).to(device, non_blocking=True)
