"""The anchor cache: what extra images need from a story's anchors to share their identity later."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class AnchorCache:
    """Anchors' shared subject keys/values per (stage, layer, step), injection sources, features and maps."""

    mode: str = "record"  # "record" while the anchors run, "use" while extras run
    device: str | None = None  # where the cache lives; "cpu" offloads it from the GPU
    kv: dict = field(default_factory=dict)  # (stage, layer, step) -> (k, v), each (chunks, H, M, d)
    out: dict = field(default_factory=dict)  # (layer, step) -> anchors' attention outputs (A, T, C)
    features: torch.Tensor | None = None  # anchors' DIFT features (A, C, h, w)
    maps: torch.Tensor | None = None  # anchors' subject maps at the end of the pre-pass (A, S, h, w)

    def keep(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().to(self.device) if self.device else x.detach().clone()

    def store_kv(self, stage, layer, step, key, value, share, layout) -> None:
        """Pack every anchor's shared tokens (mask after dropout) of each guidance chunk side by side."""
        pack = lambda x: torch.cat([layout.split(x)[:, a][:, :, share[a]] for a in range(layout.n_images)], dim=2)
        self.kv[(stage, layer, step)] = (self.keep(pack(key)), self.keep(pack(value)))

    def nbytes(self) -> int:
        tensors = [t for pair in self.kv.values() for t in pair] + list(self.out.values())
        tensors += [t for t in (self.features, self.maps) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)
