r"""Where a method's time goes on a GPU, kernel by kernel: torch.profiler over a short run.

    python benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
        --method vanilla --method shared --method svd

For each method: wall time, the GPU's busy time (the sum of its kernels; wall minus busy is time the
GPU waited for the host; on a CPU only host regions and ops are listed), the device time of svdstory's own regions (sharing, spectral work, masked
attention), and the kernels that took the most device time.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))

from method_cost import SCENES, device_name, load, parse_method, sync  # noqa: E402

REGIONS = [  # (module, function, label): svdstory's own work, labelled in the trace
    ("svdstory.attention.spectral_share", "basis_from_gram", "svd: decomposition"),
    ("svdstory.attention.spectral_share", "filter_matrix", "svd: filter matrices"),
    ("svdstory.attention.spectral_share", "spectral_filter", "svd: decompose and filter"),
    ("svdstory.attention.sdsa", "shared_attention", "extended attention"),
    ("svdstory.attention.share_policy", "anchor_keys", "gathering anchor tokens"),
    ("svdstory.attention.share_policy", "compact", "masked sharing: index lists"),
    ("svdstory.attention.subject_policy", "compact", "masked sharing: index lists"),
    ("svdstory.attention.subject_policy", "binarize", "consistory: subject masks"),
    ("svdstory.attention.spectral_share", "attend_shared", "extended attention (svd)"),
    ("svdstory.attention.subject_policy", "SubjectPolicy._record_maps", "consistory: cross-attention maps"),
    ("svdstory.attention.subject_policy", "SubjectPolicy.after_attention", "consistory: feature injection"),
    ("svdstory.attention.subject_policy", "SubjectPolicy.self_attention", "consistory: self-attention layers"),
]


@contextlib.contextmanager
def labelled():
    import importlib

    undo = []
    for module_name, name, label in REGIONS:
        owner = importlib.import_module(module_name)
        *path, name = name.split(".")  # "Class.method": patch the class
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name, None)
        if original is None:  # a region this version does not have
            continue

        def wrapped(*args, __original=original, __label=label, **kwargs):
            with record_function(__label):
                return __original(*args, **kwargs)

        setattr(owner, name, wrapped)
        undo.append((owner, name, original))
    try:
        yield
    finally:
        for owner, name, original in undo:
            setattr(owner, name, original)


def kernel_events(prof):
    """Device-side kernel events (not annotations) of a finished profile."""
    return [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA
            and not e.name.startswith(tuple(label for *_, label in REGIONS))]


def profile_one(model, story, spec, sampling, top: int, device: str) -> str:
    from svdstory import generate

    name, options = parse_method(spec)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with labelled(), profile(activities=activities) as prof:
        sync(device)
        start = time.perf_counter()
        generate(model, story, name, options, sampling)
        sync(device)
        wall = time.perf_counter() - start
    kernels = kernel_events(prof)
    busy = sum(e.device_time for e in kernels) / 1e6
    summary = (f"GPU kernels {busy:.2f} s ({len(kernels)} launches); host-bound gap {wall - busy:.2f} s"
               if device.startswith("cuda") else "no GPU: host regions and ops only")
    lines = [f"## {spec}", f"wall {wall:.2f} s under the profiler; {summary}", ""]
    averages = prof.key_averages()
    lines.append("| region | calls | device time (s) | host time (s) |")
    lines.append("| --- | --- | --- | --- |")
    for label in dict.fromkeys(label for *_, label in REGIONS):
        rows = [a for a in averages if a.key == label]
        if rows:
            a = rows[0]
            lines.append(f"| {label} | {a.count} | {a.device_time_total / 1e6:.3f} | {a.cpu_time_total / 1e6:.3f} |")
    gpu = device.startswith("cuda")
    own = (lambda a: a.self_device_time_total) if gpu else (lambda a: a.self_cpu_time_total)
    lines += ["", f"| kernel / op | calls | self {'device' if gpu else 'host'} time (s) |", "| --- | --- | --- |"]
    for a in sorted((a for a in averages if own(a) > 0), key=own, reverse=True)[:top]:
        lines.append(f"| {a.key[:90]} | {a.count} | {own(a) / 1e6:.3f} |")
    waits = [a for a in averages if a.key in ("cudaStreamSynchronize", "cudaDeviceSynchronize")]
    lines += ["", f"host syncs (stream and device synchronisations): {sum(a.count for a in waits)}, "
                  f"{sum(a.cpu_time_total for a in waits) / 1e6:.3f} s waiting"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="sdxl")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--method", action="append", default=None)
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args()

    from svdstory import SamplingConfig, Story

    model = load(args.scale, args.device, args.dtype if args.device.startswith("cuda") else None, full_vae=False)
    story = Story("a cat", SCENES[: args.images])
    sampling = SamplingConfig(steps=args.steps, seed=0)
    from svdstory import generate

    generate(model, Story("a cat", SCENES[:2]), "vanilla", {}, SamplingConfig(steps=2))  # warm-up
    print(f"device: {device_name(args.device)}; {args.images} images; {args.steps} steps; torch {torch.__version__}\n")
    for spec in args.method or ["vanilla", "shared", "svd"]:
        print(profile_one(model, story, spec, sampling, args.top, args.device), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
