"""Peak GPU memory of 4- and 16-image stories, with and without the memory features.

    python benchmarks/memory.py --scale sdxl --device cuda --dtype float16 --json memory.json

"plain" runs the whole story as one batch. "lean" turns every memory feature on: extended
attention in chunks of queries (--attention-chunk), VAE slicing and tiling, the anchor cache in CPU
memory (cache_device=cpu) and the anchors+extras path (--anchors-first: the anchors as one batch,
then each other image alone against the cache). Peak memory does not depend on the number of steps,
so a few steps suffice; a run that does not fit prints OOM.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from method_cost import SCENES, device_name, load, parse_method  # noqa: E402

LEAN_OPTIONS = {"consistory": {"cache_device": "cpu"}, "svd": {"cache_device": "cpu"},
                "shared": {"cache_device": "cpu"}}


def peak_of(model, story, spec, sampling, lean: bool) -> dict:
    from svdstory.errors import SvdStoryError
    from svdstory.generate import run_story

    name, options = parse_method(spec)
    vae = model.pipe.vae
    (vae.enable_slicing if lean else vae.disable_slicing)()
    (vae.enable_tiling if lean else vae.disable_tiling)()
    if lean:
        options = {**LEAN_OPTIONS.get(name, {}), **options}
    gc.collect()  # tensors of the previous run still in reference cycles would count in this peak
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        run_story(model, story, name, options, sampling, anchors_first=lean and name != "vanilla")
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    except (torch.OutOfMemoryError, SvdStoryError) as err:
        if "memory" not in str(err):
            raise
        peak = None
    return {"method": spec, "images": len(story.scenes), "lean": lean, "peak_mib": peak,
            "seconds": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="sdxl", help="sdxl | mini | a model path")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--images", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--method", action="append", default=None)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=1024, help="queries per extended-attention call when lean")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not args.device.startswith("cuda"):
        parser.error("--device: peak memory is measured on a CUDA device")

    from svdstory import SamplingConfig, Story

    model = load(args.scale, args.device, args.dtype)
    rows = []
    for n in args.images:
        story = Story("a cat", (SCENES * 4)[:n])
        for spec in args.method or ["vanilla", "consistory", "svd"]:
            for lean in (False, True):
                sampling = SamplingConfig(steps=args.steps, seed=0, attention_chunk=args.chunk if lean else None)
                row = peak_of(model, story, spec, sampling, lean)
                rows.append(row)
                peak = "OOM" if row["peak_mib"] is None else f"{row['peak_mib']:.0f} MiB"
                print(f"{n} images, {spec}, {'lean' if lean else 'plain'}: {peak} ({row['seconds']:.1f} s)", flush=True)
    print(f"\ndevice: {device_name(args.device)}; scale {args.scale}; {args.steps} steps; torch {torch.__version__}\n")
    print("| images | method | plain peak (MiB) | lean peak (MiB) | lean / plain |")
    print("| --- | --- | --- | --- | --- |")
    for plain, lean in zip(rows[::2], rows[1::2]):
        a, b = plain["peak_mib"], lean["peak_mib"]
        ratio = f"{b / a:.2f}" if a and b else ""
        print(f"| {plain['images']} | {plain['method']} | {'OOM' if a is None else f'{a:.0f}'} | "
              f"{'OOM' if b is None else f'{b:.0f}'} | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device_name(args.device), "scale": args.scale,
                                               "steps": args.steps, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
