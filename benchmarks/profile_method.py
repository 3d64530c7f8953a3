r"""Where a method's time goes on a GPU, kernel by kernel: torch.profiler over a short run.

    python benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
        --method vanilla --method shared --method svd

For each method: wall time, the GPU's busy time (the sum of its kernels; wall minus busy is time the
GPU waited for the host; on a CPU only host regions and ops are listed), the time of svdstory's own regions
(named in its code with torch.profiler.record_function: svdstory.profiling), and the kernels that took the most device time.
"""
from __future__ import annotations

import argparse
import bisect
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from method_cost import SCENES, device_name, load, parse_method, sync  # noqa: E402

def kernel_events(prof):
    """Device-side kernel events (not annotations) of a finished profile."""
    return [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA
            and not e.name.startswith(tuple(label for *_, label in REGIONS))]


def idle_gaps(trace: dict, top: int) -> list[str]:
    """Where the GPU waited: gaps between consecutive kernels, each charged to the host operation that
    launched the kernel after it (innermost op and innermost svdstory region), and to a host wait
    (stream, event or device synchronisation, or a blocking copy) that ended inside the gap."""
    events = trace["traceEvents"]
    kernels = sorted((e for e in events if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    launches = {e["args"].get("correlation"): e for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    labels = {label for *_, label in REGIONS}
    spans = lambda keep: sorted((e for e in events if e.get("cat") in ("cpu_op", "user_annotation") and "dur" in e
                                 and keep(e["name"] in labels)), key=lambda e: e["ts"])
    ops, regions = spans(lambda labelled: not labelled), spans(lambda labelled: labelled)
    waits = [e for e in events if e.get("cat") == "cuda_runtime" and "Synchronize" in e.get("name", "")]
    wait_ends = sorted(w["ts"] + w["dur"] for w in waits)
    by_op, by_region, after_wait, total, end = {}, {}, 0.0, 0.0, None
    starts, region_starts = [e["ts"] for e in ops], [e["ts"] for e in regions]
    for k in kernels:
        if end is not None and k["ts"] - end > 2.0:
            gap = k["ts"] - end
            total += gap
            launch = launches.get(k["args"].get("correlation"))
            op = region = "(unknown)"
            if launch is not None:
                around = lambda spans, at: [e["name"] for e in spans[max(0, at - 400):at]
                                            if e["ts"] + e["dur"] >= launch["ts"]]  # the innermost last
                names = around(ops, bisect.bisect_right(starts, launch["ts"]))
                op = names[-1] if names else "(none)"
                names = around(regions, bisect.bisect_right(region_starts, launch["ts"]))
                region = names[-1] if names else "(outside svdstory regions)"
            by_op[op] = by_op.get(op, 0.0) + gap
            by_region[region] = by_region.get(region, 0.0) + gap
            if bisect.bisect_right(wait_ends, k["ts"]) > bisect.bisect_left(wait_ends, end):
                after_wait += gap  # the host had been waiting for the GPU just before
        end = max(end or 0.0, k["ts"] + k.get("dur", 0))
    synced = sum(w["dur"] for w in waits)
    lines = [f"GPU idle between kernels: {total / 1e6:.3f} s, of which after a host wait: {after_wait / 1e6:.3f} s; "
             f"host waiting in synchronisations: {synced / 1e6:.3f} s ({len(waits)} calls)", "",
             "| host op launching the kernel after a gap | idle (s) |", "| --- | --- |"]
    lines += [f"| {k[:80]} | {v / 1e6:.3f} |" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]]
    lines += ["", "| svdstory region at that launch | idle (s) |", "| --- | --- |"]
    lines += [f"| {k} | {v / 1e6:.3f} |" for k, v in sorted(by_region.items(), key=lambda kv: -kv[1])]
    return lines


def kernel_totals(prof) -> dict:
    """{kernel name: [calls, device microseconds]} of a finished profile."""
    totals: dict = {}
    for e in kernel_events(prof):
        row = totals.setdefault(e.name, [0, 0.0])
        row[0] += 1
        row[1] += e.device_time
    return totals


def profile_one(model, story, spec, sampling, top: int, device: str, trace_dir: str | None = None) -> str:
    from svdstory import generate
    from svdstory.profiling import REGIONS

    name, options = parse_method(spec)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
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
    for label in REGIONS:  # named in svdstory's code (svdstory.profiling); nested ones count in both
        rows = [a for a in averages if a.key == label]
        if rows:
            a = rows[0]
            lines.append(f"| {label} | {a.count} | {a.device_time_total / 1e6:.3f} | {a.cpu_time_total / 1e6:.3f} |")
    gpu = device.startswith("cuda")
    own = (lambda a: a.self_device_time_total) if gpu else (lambda a: a.self_cpu_time_total)
    lines += ["", f"| kernel / op | calls | self {'device' if gpu else 'host'} time (s) |", "| --- | --- | --- |"]
    for a in sorted((a for a in averages if own(a) > 0), key=own, reverse=True)[:top]:
        lines.append(f"| {a.key[:90]} | {a.count} | {own(a) / 1e6:.3f} |")
    waits = [a for a in averages if a.key in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")]
    lines += ["", f"host syncs (stream, event and device synchronisations): {sum(a.count for a in waits)}, "
                  f"{sum(a.cpu_time_total for a in waits) / 1e6:.3f} s waiting"]
    if trace_dir and gpu:
        import gzip
        import json
        import re

        stem = Path(trace_dir) / re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)
        prof.export_chrome_trace(str(stem) + ".trace.json")
        trace = json.loads(Path(str(stem) + ".trace.json").read_text())
        lines += [""] + idle_gaps(trace, top)
        with gzip.open(str(stem) + ".trace.json.gz", "wt") as f:
            json.dump(trace, f)
        Path(str(stem) + ".trace.json").unlink()
        Path(str(stem) + ".kernels.json").write_text(json.dumps(kernel_totals(prof)))
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
    parser.add_argument("--trace",
                        help="folder: write each method's trace (gzip), kernel totals and where the GPU idled")
    args = parser.parse_args()

    from svdstory import SamplingConfig, Story

    model = load(args.scale, args.device, args.dtype if args.device.startswith("cuda") else None, full_vae=False)
    story = Story("a cat", SCENES[: args.images])
    sampling = SamplingConfig(steps=args.steps, seed=0)
    from svdstory import generate

    generate(model, Story("a cat", SCENES[:2]), "vanilla", {}, SamplingConfig(steps=2))  # warm-up
    print(f"device: {device_name(args.device)}; {args.images} images; {args.steps} steps; torch {torch.__version__}\n")
    for spec in args.method or ["vanilla", "shared", "svd"]:
        print(profile_one(model, story, spec, sampling, args.top, args.device, args.trace), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
