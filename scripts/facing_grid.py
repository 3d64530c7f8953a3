"""A grid of every SynthWorld v2 subject class (rows) in every facing (columns), for reading the
facing attribute by eye: docs/img/world_v2_facing.png.

    python scripts/facing_grid.py --out docs/img/world_v2_facing.png [--size large] [--seed 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from svdstory.world import LAYOUT_ATTRIBUTES, SUBJECTS, sample


def facing_grid(seed: int, sizes: list[str], side: int = 128) -> np.ndarray:
    """uint8 (12 * side, n_facings * len(sizes) * side, 3): row = class, column = size, then facing."""
    rows = []
    for k, subject in enumerate(SUBJECTS):
        cells = [sample(seed + k, world=2, subject=subject, size=side,
                        layout_attributes={"facing": facing, "size": size, "placement": "centre"}).image
                 for size in sizes for facing in LAYOUT_ATTRIBUTES["facing"]]
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", action="append", choices=LAYOUT_ATTRIBUTES["size"],
                        help="subject size band(s), one block of columns each (default: large)")
    parser.add_argument("--side", type=int, default=128, help="image side in pixels")
    args = parser.parse_args()
    Image.fromarray(facing_grid(args.seed, args.size or ["large"], args.side)).save(args.out, optimize=True)


if __name__ == "__main__":
    main()
