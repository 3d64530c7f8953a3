"""Which piece of the world v2 recipe comes next: prints `clip`, `evaluator`, `minisd` or `done`.

Each stage trains until its checkpoint in .ckpt/ holds the GPU-minutes asked of it (the minutes of
every process added up), in the order CLIP (its text tower conditions the mini SD), evaluator, mini SD.

  python scripts/v2_plan.py --clip-total 30 --evaluator-total 12 --minisd-total 60
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def gpu_minutes(folder: Path) -> float:
    """GPU-minutes trained so far, from the metadata of a checkpoint's first shard (0 if none)."""
    from safetensors import safe_open

    shards = sorted(folder.glob("shard-*.safetensors"))
    if not shards:
        return 0.0
    with safe_open(str(shards[0]), framework="pt") as f:
        return float(json.loads(f.metadata()["meta"]).get("gpu_minutes", 0.0))


def next_stage(root: Path, totals: dict[str, float]) -> str:
    for stage, total in totals.items():
        if gpu_minutes(root / stage) < total:
            return stage
    return "done"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(".ckpt"))
    p.add_argument("--clip-total", type=float, default=30.0)
    p.add_argument("--evaluator-total", type=float, default=12.0)
    p.add_argument("--minisd-total", type=float, default=60.0)
    args = p.parse_args(argv)
    print(next_stage(args.root, {"clip": args.clip_total, "evaluator": args.evaluator_total,
                                 "minisd": args.minisd_total}))


if __name__ == "__main__":
    main()
