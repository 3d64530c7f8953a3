"""Time and peak memory of every method against vanilla, measured in one run on one device.

    python benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16   # 1024 px, 4 images, 50 steps
    python benchmarks/method_cost.py --scale mini --device cpu                    # the bundled mini model

Prints a Markdown table (time, ratio to vanilla, peak memory, ratio) and a breakdown of where the
extra time goes, and writes the same as JSON with --json.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_METHODS = ["vanilla", "consistory", "shared", "svd", "svd:target=hidden", "storydiffusion", "1p1s"]
SCENES = ["in a forest", "on a beach", "in the city", "in the snow", "at night", "in a room", "in a desert",
          "in a field", "on a mountain", "underwater", "in a forest", "on a beach", "in the city", "in the snow",
          "at night", "in a room"]


def parse_method(spec: str) -> tuple[str, dict]:
    """"svd:target=attn,zero=rank:8" -> ("svd", {"target": "attn", "zero": "rank:8"})."""
    name, _, rest = spec.partition(":")
    options, key = {}, None
    for part in rest.split(",") if rest else []:
        if "=" in part:
            key, _, value = part.partition("=")
            options[key] = value
        else:  # a comma inside a value (spectral chains)
            options[key] += "," + part
    return name, options


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@contextlib.contextmanager
def timed_regions(table: dict, device: str):
    """The time of svdstory's own regions (named in its code: svdstory.profiling) under torch.profiler:
    device time on a GPU, host time on a CPU. Nested regions count in both."""
    from svdstory.profiling import REGIONS

    gpu = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities) as prof:
        yield
    for event in prof.key_averages():
        if event.key in REGIONS:
            label = event.key.removeprefix("svdstory: ")
            table[label] = table.get(label, 0.0) + (event.device_time_total if gpu else event.cpu_time_total) / 1e6


def count_passes(model, table: dict):
    """Every forward pass of the denoising network (the UNet, or a DiT's transformer)."""
    network = model.pipe.unet if hasattr(model.pipe, "unet") else model.pipe.transformer
    return network.register_forward_pre_hook(lambda *_: table.__setitem__(PASSES, table.get(PASSES, 0) + 1))


@contextlib.contextmanager
def one_call_sharing():
    """ConsiStory's SDSA as one attention call over [own | shared] keys per group of images (the route
    before the packed variable-length call; storydiffusion always takes it)."""
    import svdstory.methods.consistory.pattern as pattern

    original = pattern.packs
    pattern.packs = lambda *_: False
    try:
        yield
    finally:
        pattern.packs = original


PASSES = "network passes"
ONE_CALL = " (one call over own + shared keys)"
EAGER = " (sharing patterns read at the start of each step)"


@contextlib.contextmanager
def eager_patterns():
    """ConsiStory's sharing patterns read back to the host as soon as they are queued, at the start of
    each step (the route before the copy was read only at the first SDSA layer)."""
    import svdstory.methods.consistory.pattern as pattern

    original = pattern.to_host_later

    def at_once(x):
        copy = original(x)
        copy.get()
        return copy

    pattern.to_host_later = at_once
    try:
        yield
    finally:
        pattern.to_host_later = original


def measure(model, story, spec, sampling, device, breakdown: bool) -> dict:
    from svdstory import generate

    if spec.endswith(EAGER):
        with eager_patterns():
            return {**measure(model, story, spec[:-len(EAGER)], sampling, device, breakdown), "method": spec}
    if spec.endswith(ONE_CALL):
        with one_call_sharing():
            return {**measure(model, story, spec[:-len(ONE_CALL)], sampling, device, breakdown), "method": spec}
    name, options = parse_method(spec)
    if device.startswith("cuda"):
        gc.collect()  # tensors of the previous run still in reference cycles would count in this peak
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    table: dict = {}
    hook = count_passes(model, table)
    try:
        with timed_regions(table, device) if breakdown else contextlib.nullcontext():
            sync(device)
            start = time.perf_counter()
            generate(model, story, name, options, sampling)
            sync(device)
            seconds = time.perf_counter() - start
    finally:
        hook.remove()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
    return {"method": spec, "seconds": seconds, "peak_mib": peak, "breakdown": table}


# scale -> (scale_models builder, what it is, sampling defaults): issue 24's 28 steps at 1024 px
DIT_SCALES = {"flux": ("flux_scale_pipeline", "flux.1-dev-architecture", {"steps": 28, "guidance": 3.5}),
              "sd35": ("sd35_scale_pipeline", "sd3.5-medium-architecture", {"steps": 28, "guidance": 4.5})}


def load(scale: str, device: str, dtype: str, full_vae: bool = True):
    from svdstory import load_model
    from svdstory.models import Model, resolve_dtype

    if scale == "sdxl":
        from scale_models import sdxl_scale_pipeline

        torch_dtype = resolve_dtype(dtype, device)
        pipe = sdxl_scale_pipeline(device=device, dtype=torch_dtype, full_vae=full_vae).to(device=device, dtype=torch_dtype)
        return Model(pipe, "sdxl-architecture (random weights)", None, {"steps": 50, "guidance": 5.0})
    if scale in DIT_SCALES:
        import scale_models

        build, name, defaults = DIT_SCALES[scale]
        torch_dtype = resolve_dtype(dtype, device)
        pipe = getattr(scale_models, build)(device=device, dtype=torch_dtype).to(device=device, dtype=torch_dtype)
        return Model(pipe, f"{name} (random weights)", None, defaults)
    return load_model(None if scale == "mini" else scale, device=device, dtype=dtype)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="mini", help="sdxl | flux | sd35 | mini | tiny | a model path")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="pixels (default: the model's)")
    parser.add_argument("--method", action="append", default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--breakdown-only", action="append", default=None,
                        help="re-run with the breakdown timers only for these methods (default: all)")
    parser.add_argument("--vae", default="tiny", choices=["tiny", "sdxl"],
                        help="sdxl scale: a tiny VAE (default; the denoising peak shows) or SDXL's VAE architecture")
    parser.add_argument("--one-call", action="append", default=[],
                        help="also time this method with SDSA as one call over [own | shared] keys per group")
    parser.add_argument("--eager-patterns", action="append", default=[],
                        help="also time this consistory spec with its sharing patterns read at the start of each step")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from svdstory import SamplingConfig, Story

    model = load(args.scale, args.device, args.dtype, args.vae == "sdxl")
    story = Story("a cat", SCENES[: args.images])
    sampling = SamplingConfig(steps=args.steps, height=args.size, width=args.size, seed=0)
    methods = ((args.method or DEFAULT_METHODS) + [spec + ONE_CALL for spec in args.one_call]
               + [spec + EAGER for spec in args.eager_patterns])
    measure(model, Story("a cat", SCENES[:2]), "vanilla", SamplingConfig(steps=2, height=args.size, width=args.size),
            args.device, False)  # warm-up: kernels, allocator, lazy imports
    rows = []
    for spec in methods:
        runs = [measure(model, story, spec, sampling, args.device, False) for _ in range(args.repeats)]
        best = min(runs, key=lambda r: r["seconds"])
        if not args.no_breakdown and (args.breakdown_only is None or spec in args.breakdown_only):
            best["breakdown"] = measure(model, story, spec, sampling, args.device, True)["breakdown"]
        rows.append(best)
        print(f"{spec}: {best['seconds']:.2f} s, peak {best['peak_mib']:.0f} MiB", flush=True)
    base = rows[0] if rows[0]["method"] == "vanilla" else None
    print(f"\ndevice: {device_name(args.device)}; scale {args.scale}; {args.images} images; {sampling.steps or 'default'}"
          f" steps; VAE {args.vae}; torch {torch.__version__}\n")
    print("| method | time (s) | x vanilla | peak memory (MiB) | x vanilla | network passes | breakdown (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        t_ratio = r["seconds"] / base["seconds"] if base else float("nan")
        m_ratio = r["peak_mib"] / base["peak_mib"] if base and base["peak_mib"] == base["peak_mib"] else float("nan")
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["breakdown"].items() if k != PASSES)
        print(f"| {r['method']} | {r['seconds']:.2f} | {t_ratio:.2f} | {r['peak_mib']:.0f} | {m_ratio:.2f} | "
              f"{r['breakdown'].get(PASSES, '')} | {parts} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device_name(args.device), "scale": args.scale,
                                               "images": args.images, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
