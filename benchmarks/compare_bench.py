"""Two bench folders, story for story: the same (method, story) rows, metric values and images.

    python benchmarks/compare_bench.py one_process_out sharded_out

Prints the rows compared, the largest metric difference and the largest pixel difference; exits 1 if
the rows differ.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def load(out: Path):
    rows = {(r["method"], r["story"]): r for r in json.loads((out / "results.json").read_text())["per_story"]}
    images = {p.relative_to(out).as_posix(): p for p in sorted(out.glob("images/**/*.png"))}
    return rows, images


def main(a: str, b: str) -> int:
    rows_a, images_a = load(Path(a))
    rows_b, images_b = load(Path(b))
    if rows_a.keys() != rows_b.keys() or images_a.keys() != images_b.keys():
        print(f"different rows or images: {len(rows_a)} vs {len(rows_b)} rows, {len(images_a)} vs {len(images_b)} images")
        return 1
    metric = max((abs(float(row[k]) - float(rows_b[key][k])) for key, row in rows_a.items() for k in row
                  if isinstance(row[k], float) and isinstance(rows_b[key].get(k), float)), default=0.0)
    pixel = max((int(np.abs(np.asarray(Image.open(p), dtype=np.int16)
                            - np.asarray(Image.open(images_b[name]), dtype=np.int16)).max())
                 for name, p in images_a.items()), default=0)
    print(f"{len(rows_a)} (method, story) rows and {len(images_a)} images in both; "
          f"largest metric difference {metric:.2e}; largest pixel difference {pixel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
