"""Binary masks from soft maps: Otsu thresholds (as the ConsiStory release computes them), resizing."""
from __future__ import annotations

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
