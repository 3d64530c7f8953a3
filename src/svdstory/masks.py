"""Subject masks from cross-attention maps: averaging over layers and recent steps, Otsu thresholds."""
from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F


def otsu_threshold(values: torch.Tensor, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance) of a 1-D set of values."""
    values = values.detach().float().flatten()
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        return float("inf")
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        return hi
    hist = torch.histc(values, bins=bins, min=lo, max=hi)
    centers = lo + (torch.arange(bins, dtype=torch.float64, device=values.device) + 0.5) * (hi - lo) / bins
    hist = hist.double() / hist.sum()
    weight_low = torch.cumsum(hist, 0)
    mean_low = torch.cumsum(hist * centers, 0)
    total_mean = mean_low[-1]
    between = (total_mean * weight_low - mean_low) ** 2 / (weight_low * (1 - weight_low)).clamp_min(1e-12)
    between[weight_low >= 1 - 1e-12] = -1  # a split must leave both classes non-empty
    k = int(torch.argmax(between))
    return float(lo + (k + 1) * (hi - lo) / bins)  # the upper edge of the last "low" bin


def binarize(maps: torch.Tensor) -> torch.Tensor:
    """(..., h, w) maps -> bool masks, each map thresholded by Otsu after min-max normalisation."""
    flat = maps.reshape(-1, maps.shape[-2] * maps.shape[-1]).float()
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    norm = (flat - lo) / (hi - lo).clamp_min(1e-12)
    out = torch.stack([row > otsu_threshold(row) for row in norm]) if len(norm) else norm.bool()
    return out.reshape(maps.shape)


def resize_maps(maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(n, S, h, w) -> (n, S, *grid), bilinear."""
    if tuple(maps.shape[-2:]) == tuple(grid):
        return maps.float()
    return F.interpolate(maps.float(), size=grid, mode="bilinear", align_corners=False)


class MapAccumulator:
    """Collects subject-token cross-attention maps of one resolution; averages layers and recent steps."""

    def __init__(self, window: int):
        self.window = window
        self.current: list[torch.Tensor] = []  # this step's maps, one (n, S, h, w) per layer
        self.history: deque = deque(maxlen=window)  # per-step layer averages

    def add(self, maps: torch.Tensor) -> None:
        self.current.append(maps.float())

    def end_step(self) -> None:
        if self.current:
            self.history.append(torch.stack(self.current).mean(0))
            self.current = []

    def average(self) -> torch.Tensor | None:
        """(n, S, h, w) mean over the layers and the last `window` steps, or None before any step."""
        return torch.stack(list(self.history)).mean(0) if self.history else None


def token_maps(probs: torch.Tensor, positions: list[list[list[int]]], grid: tuple[int, int]) -> torch.Tensor:
    """Cross-attention probabilities (n, heads, T, L) -> per-subject maps (n, S, h, w) (sub-tokens summed)."""
    mean = probs.float().mean(1)  # (n, T, L)
    maps = [[mean[i][:, pos].sum(-1) for i, pos in enumerate(per_image)] for per_image in positions]
    return torch.stack([torch.stack(m) for m in maps], dim=1).view(mean.shape[0], len(positions), *grid)


def dropout_keep(n_tokens: int, rate: float, seed: int, device) -> torch.Tensor:
    """A keep-mask for mask dropout, drawn from its own generator so a batch split changes nothing."""
    if rate <= 0:
        return torch.ones(n_tokens, dtype=torch.bool, device=device)
    draw = torch.rand(n_tokens, generator=torch.Generator("cpu").manual_seed(seed))
    return (draw >= rate).to(device)
