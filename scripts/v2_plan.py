"""Which piece of the world v2 recipe comes next: prints `clip`, `evaluator`, `minisd` or `done`.

Each stage trains until its checkpoint in .ckpt/ holds the GPU-minutes asked of it (the minutes of
every process added up), in the order CLIP (its text tower conditions the mini SD), evaluator, mini SD.

  python scripts/v2_plan.py --clip-total 30 --evaluator-total 12 --minisd-total 60
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def checkpoint_meta(folder: Path) -> dict:
    """The training metadata of a checkpoint's first shard ({} if there is none)."""
    from safetensors import safe_open

    shards = sorted(folder.glob("shard-*.safetensors"))
    if not shards:
        return {}
    with safe_open(str(shards[0]), framework="pt") as f:
        return json.loads(f.metadata()["meta"])


def next_stage(root: Path, totals: dict[str, float], vae_stage: bool = False) -> str:
    for stage, total in totals.items():
        meta = checkpoint_meta(root / stage)
        if stage == "minisd" and vae_stage and not meta.get("vae_done"):
            return "vae"
        if float(meta.get("gpu_minutes", 0.0)) < total:
            return stage
    return "done"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(".ckpt"))
    p.add_argument("--clip-total", type=float, default=30.0)
    p.add_argument("--evaluator-total", type=float, default=12.0)
    p.add_argument("--minisd-total", type=float, default=60.0)
    p.add_argument("--vae-stage", action="store_true", help="fine-tune the VAE before the mini SD's UNet")
    args = p.parse_args(argv)
    print(next_stage(args.root, {"clip": args.clip_total, "evaluator": args.evaluator_total,
                                 "minisd": args.minisd_total}, args.vae_stage))


if __name__ == "__main__":
    main()
