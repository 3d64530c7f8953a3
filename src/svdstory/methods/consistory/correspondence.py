"""Dense correspondences between images from UNet decoder (DIFT-style) features."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...masks import otsu_threshold


def gaussian_smooth(features: torch.Tensor, sigma: float) -> torch.Tensor:
    """(n, C, h, w) blurred by a 3x3 Gaussian per channel (the smoothing DIFT features are given); zeros
    beyond the border, as in the ConsiStory release, so the outer ring loses some of its weight."""
    if sigma <= 0:
        return features
    x = torch.tensor([-1.0, 0.0, 1.0])
    k1 = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = (k1[:, None] * k1[None, :]) / (k1.sum() ** 2)
    channels = features.shape[1]
    kernel = kernel.to(features).expand(channels, 1, 3, 3)
    return F.conv2d(features, kernel, padding=1, groups=channels)


@dataclass
class Correspondence:
    """For every target patch: which source image and patch it maps to, and whether to use it."""

    source: torch.Tensor  # (n, T) index of the chosen source image
    position: torch.Tensor  # (n, T) patch index inside that source
    distance: torch.Tensor  # (n, T) cosine distance (inf where no source is allowed)
    use: torch.Tensor  # (n, T) bool: inside the target's subject mask and closer than the threshold


def nearest_neighbours(targets: torch.Tensor, sources: torch.Tensor, source_masks: torch.Tensor,
                       allowed: torch.Tensor):
    """Cosine nearest neighbour of each target patch among the masked patches of each allowed source.

    targets (n, C, h, w), sources (m, C, h, w), source_masks (m, T) bool, allowed (n, m) bool.
    Returns (source (n, T), position (n, T), distance (n, T)), the best source chosen by distance.
    """
    t = F.normalize(targets.flatten(2).float(), dim=1)  # (n, C, T)
    s = F.normalize(sources.flatten(2).float(), dim=1)  # (m, C, T)
    n, m, T = t.shape[0], s.shape[0], t.shape[2]
    best_dist = torch.full((n, m, T), float("inf"), device=t.device)
    best_pos = torch.zeros((n, m, T), dtype=torch.long, device=t.device)
    for i in range(n):
        for j in range(m):
            if not allowed[i, j] or not source_masks[j].any():
                continue
            sim = t[i].T @ s[j]  # (T, T): target patch x source patch
            sim[:, ~source_masks[j]] = -2.0
            value, index = sim.max(dim=1)
            best_dist[i, j], best_pos[i, j] = 1.0 - value, index
    distance, source = best_dist.min(dim=1)  # (n, T)
    position = best_pos.gather(1, source.unsqueeze(1)).squeeze(1)
    return source, position, distance


def correspond(targets, sources, target_masks, source_masks, allowed, threshold: float | None = None) -> Correspondence:
    """Nearest neighbours gated by the target's subject mask and a distance below a threshold (None: Otsu per
    image); strictly below, as in the release."""
    source, position, distance = nearest_neighbours(targets, sources, source_masks, allowed)
    use = torch.zeros_like(target_masks, dtype=torch.bool)
    for i in range(distance.shape[0]):
        finite = torch.isfinite(distance[i])
        if not finite.any():
            continue
        limit = otsu_threshold(distance[i][finite]) if threshold is None else threshold
        use[i] = target_masks[i] & finite & (distance[i] < limit)
    return Correspondence(source, position, distance, use)
