"""Names of svdstory's own regions in a torch.profiler trace (benchmarks/ read them by these names).

`region(name)` is `torch.profiler.record_function`: a few microseconds per use when no profiler runs.
"""
from __future__ import annotations

from torch.profiler import record_function as region

EXTENDED_ATTENTION = "svdstory: extended attention"  # attention over own + shared tokens
ANCHOR_TOKENS = "svdstory: gathering anchor tokens"
SHARE_PATTERN = "svdstory: sharing pattern"  # ConsiStory's masks after dropout, as index lists
SUBJECT_MAPS = "svdstory: cross-attention maps"
SUBJECT_MASKS = "svdstory: subject masks"
QUERY_MIXING = "svdstory: vanilla-query mixing"
INJECTION = "svdstory: feature injection"
CORRESPONDENCE = "svdstory: correspondence search"
DECOMPOSITION = "svdstory: spectral decomposition"
FILTER_MATRICES = "svdstory: filter matrices"
DECODE = "svdstory: VAE decode"

REGIONS = (EXTENDED_ATTENTION, ANCHOR_TOKENS, SHARE_PATTERN, SUBJECT_MAPS, SUBJECT_MASKS, QUERY_MIXING, INJECTION,
           CORRESPONDENCE, DECOMPOSITION, FILTER_MATRICES, DECODE)

__all__ = ["region", "REGIONS"]
