"""Independent random streams per decision, so that fixing one choice (the subject, say) leaves the
others drawn from the same seed unchanged."""

from __future__ import annotations

import numpy as np

from svdstory.errors import SvdStoryError

# v2 streams come after v1's, so that v1 samples keep their streams
STREAMS = ("subject", "attributes", "scene", "layout", "caption", "backdrop",
           "background", "props", "horizon", "landmark")


def stream(seed: int, name: str) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SvdStoryError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(STREAMS.index(name),)))
