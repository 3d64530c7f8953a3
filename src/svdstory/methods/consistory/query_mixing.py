"""ConsiStory's vanilla-query mixing: early in the run, SDSA layers use a blend of their own queries and
those of a vanilla pass (no sharing) of the same step, which keeps each image's layout its own."""
from __future__ import annotations

import torch

from ...profiling import QUERY_MIXING, region
from ...steps import in_window, ramp


def mixed_query(own: torch.Tensor, vanilla: torch.Tensor, weight: float) -> torch.Tensor:
    """weight * vanilla + (1 - weight) * own."""
    return weight * vanilla + (1 - weight) * own


class QueryMixing:
    """The vanilla pass's queries of each SDSA layer, and their blend into the sampling pass's queries."""

    def __init__(self, until: float, start: float, end: float):
        self.window = (0.0, until)  # fraction of the run that mixes
        self.start, self.end = start, end  # the vanilla queries' weight at the window's first and last step
        self.vanilla: dict[str, torch.Tensor] = {}  # layer name -> this step's vanilla queries

    def active(self, step: int, num_steps: int) -> bool:
        return in_window(step, num_steps, self.window)

    def weight(self, step: int, num_steps: int) -> float:
        return ramp(step, num_steps, self.window, self.start, self.end)

    def record(self, layer: str, query: torch.Tensor) -> None:
        self.vanilla[layer] = query

    def mix(self, layer: str, query: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        """The layer's queries blended with the vanilla pass's (unchanged where that pass did not record)."""
        if layer not in self.vanilla:
            return query
        with region(QUERY_MIXING):
            return mixed_query(query, self.vanilla[layer], self.weight(step, num_steps))
