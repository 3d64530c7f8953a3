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
    ConsiStory release has it (scikit-image 0.22's `threshold_otsu` under NumPy 1.26), in its precision:
    bin edges rounded once to float32, float32 centres, counts and running sums, so that near-ties fall
    in the release's bin. Values above the threshold are "high".
    """
    rows = rows.detach().float()
    finite = torch.isfinite(rows)
    lo = torch.where(finite, rows, float("inf")).amin(dim=1)
    hi = torch.where(finite, rows, float("-inf")).amax(dim=1)
    edges = _bin_edges(lo, hi, bins)  # (R, bins + 1)
    index = _bin_index(torch.where(finite, rows, lo[:, None]), lo, hi, edges)
    counts = torch.zeros(rows.shape[0], bins, device=rows.device).scatter_add_(1, index, finite.float())
    centers = (edges[:, :-1] + edges[:, 1:]) / 2
    weight_low, weight_high = counts.cumsum(1), counts.flip(1).cumsum(1).flip(1)  # whole numbers: exact
    sums = _running_sum(torch.cat([counts * centers, (counts * centers).flip(1)]))
    mean_low = sums[:len(rows)] / weight_low
    mean_high = (sums[len(rows):] / counts.flip(1).cumsum(1)).flip(1)
    gap = mean_low[:, :-1] - mean_high[:, 1:]
    between = weight_low[:, :-1] * weight_high[:, 1:] * (gap * gap)  # split after bin k, k < bins - 1
    threshold = centers.gather(1, between.nan_to_num(-1.0).argmax(dim=1, keepdim=True)).squeeze(1)
    threshold = torch.where(hi == lo, hi, threshold)
    return torch.where(finite.any(dim=1), threshold, float("inf"))


def _bin_edges(lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """(R, bins + 1) float32 edges spaced evenly over [lo, hi]: computed in float64 and rounded once, the
    last one `hi` itself (NumPy 1.26's `linspace` for float32 ends)."""
    steps = torch.arange(bins + 1, dtype=torch.float64, device=lo.device)
    edges = (steps * ((hi.double() - lo.double()) / bins)[:, None] + lo.double()[:, None]).float()
    edges[:, -1] = hi
    return edges


def _bin_index(rows: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(R, N) bin of each value, as NumPy's `histogram` finds it for float32 values: a float32 estimate,
    then moved by one where the value lies on the other side of an edge (the last bin holds `hi`)."""
    bins = edges.shape[1] - 1
    estimate = ((rows - lo[:, None]) / (hi - lo)[:, None] * bins).nan_to_num(0.0, 0.0, 0.0)
    index = estimate.clamp(0, bins).long().clamp_max(bins - 1)
    index = index - (rows < edges.gather(1, index)).long()
    return index + ((rows >= edges.gather(1, index + 1)) & (index != bins - 1)).long()


def _running_sum(x: torch.Tensor) -> torch.Tensor:
    """Prefix sums along dim 1 accumulated left to right in x's dtype, as NumPy's `cumsum` adds float32
    (torch's `cumsum` rounds a float64 sum on the CPU and adds in a parallel order on a GPU)."""
    out = x.clone()
    for k in range(1, x.shape[1]):
        out[:, k] += out[:, k - 1]
    return out


def otsu_threshold(values: torch.Tensor, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D set of values (see `otsu_thresholds`)."""
    return float(otsu_thresholds(values.reshape(1, -1), bins)[0])


def binarize(maps: torch.Tensor) -> torch.Tensor:
    """(..., h, w) maps -> bool masks, each map thresholded by Otsu over its own values (as the release
    thresholds them: no rescaling first, which would move values across bin edges at near-ties)."""
    flat = maps.reshape(-1, maps.shape[-2] * maps.shape[-1]).float()
    return (flat > otsu_thresholds(flat)[:, None]).reshape(maps.shape)


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
