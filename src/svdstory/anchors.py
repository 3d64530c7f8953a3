"""The anchor cache: what extra images need from a story's anchors to share their identity later.

Two roles, two types: an `AnchorRecorder` fills an `AnchorCache` while the anchors run; an `AnchorReplay`
reads a finished one while an extra image runs. A policy is given one of them, or neither.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class AnchorCache:
    """Anchors' shared keys/values per (stage, layer, step), injection sources, features and maps."""

    device: str | None = None  # where the cache lives; "cpu" offloads it from the GPU
    kv: dict = field(default_factory=dict)  # (stage, layer, step) or (layer, step) -> keys, values[, hidden]
    out: dict = field(default_factory=dict)  # (layer, step) -> anchors' attention outputs (A, T, C)
    features: torch.Tensor | None = None  # anchors' DIFT features (A, C, h, w)
    maps: torch.Tensor | None = None  # anchors' subject maps at the end of the pre-pass (A, S, h, w)

    def nbytes(self) -> int:
        tensors = [t for group in self.kv.values() for t in group if t is not None] + list(self.out.values())
        tensors += [t for t in (self.features, self.maps) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)


class AnchorRecorder:
    """Writes what the anchors share into a new `AnchorCache` (`cache`) as they run."""

    def __init__(self, device: str | None = None):
        self.cache = AnchorCache(device)

    def keep(self, x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None:
            return None
        return x.detach().to(self.cache.device) if self.cache.device else x.detach().clone()

    def record_kv(self, key, tensors) -> None:
        """The shared tokens of one layer and step (keys, values and whatever else the method needs)."""
        self.store(key, tensors)

    def record_masked_kv(self, key, keys, values, share, layout) -> None:
        """Pack every anchor's shared tokens (mask after dropout) of each guidance chunk side by side."""
        pack = lambda x: torch.cat([layout.split(x)[:, a][:, :, share[a]] for a in range(layout.n_images)], dim=2)
        self.store(key, (pack(keys), pack(values)))

    def store(self, key, tensors) -> None:
        self.cache.kv[key] = tuple(self.keep(x) for x in tensors)

    def record_out(self, key, output: torch.Tensor) -> None:
        self.cache.out[key] = self.keep(output)

    def record_features(self, features: torch.Tensor, maps: torch.Tensor) -> None:
        self.cache.features, self.cache.maps = self.keep(features), self.keep(maps)


class AnchorReplay:
    """Reads a finished `AnchorCache`, each tensor moved to where the extra image runs."""

    def __init__(self, cache: AnchorCache):
        self.cache = cache

    def kv(self, key, device) -> tuple | None:
        """The shared tokens recorded under `key`, or None where the anchors shared nothing."""
        found = self.cache.kv.get(key)
        return None if found is None else tuple(None if x is None else x.to(device) for x in found)

    def out(self, key, device) -> torch.Tensor:
        return self.cache.out[key].to(device)

    def features(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cache.features.to(device), self.cache.maps.to(device)
