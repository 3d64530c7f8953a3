"""Time exact vs Gram vs randomized SVD on batches of tall-skinny matrices (keys/values shapes).

    PYTHONPATH=src python benchmarks/svd_decompositions.py --device cuda
    PYTHONPATH=src python benchmarks/svd_decompositions.py --device cpu --repeats 2

Prints one row per shape: median milliseconds per batched call, speed-up over the exact SVD, and
the largest error of the singular values relative to s_max (randomized, subspace: of their top
`--rank`). `eigh` columns time the Gram route's eigenproblem alone, for the batch and twice it.
Gaussian matrices have a flat spectrum, the worst case for the randomized SVD; `--decay 0.9`
scales column i by 0.9^i for a spectrum that decays like real keys/values.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from svdstory.spectral import gram_svd, randomized_svd, spectral_filter, subspace_svd, svd


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--batch", type=int, default=20, help="matrices per call (heads x images)")
    parser.add_argument("--shapes", default="3072x64,4096x64,1024x64", help="comma-separated MxN")
    parser.add_argument("--rank", type=int, default=16, help="rank of the randomized SVD")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decay", type=float, default=1.0, help="column i scaled by decay^i")
    return parser.parse_args()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {torch.get_num_threads()} torch threads"


def median_ms(fn, device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of `fn()`, synchronising so GPU work is inside the timed region."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return ((approx.float() - exact.float()).abs() / exact.float().amax(dim=-1, keepdim=True)).max().item()


def bench_shape(m: int, n: int, args: argparse.Namespace, device: torch.device) -> dict:
    g = torch.Generator(device=device).manual_seed(args.seed)
    M = torch.randn(args.batch, m, n, generator=g, device=device)
    M = (M * args.decay ** torch.arange(n, device=device)).to(getattr(torch, args.dtype))  # (B, m, n)
    rank_gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    exact_s = svd(M).S
    timed = {
        "exact": lambda: svd(M),
        "gram": lambda: gram_svd(M),
        "randomized": lambda: randomized_svd(M, args.rank, generator=rank_gen),
        "filter(gram)": lambda: spectral_filter(M, lambda s, shape: s, method="gram"),
        "subspace": lambda: subspace_svd(M, args.rank),
    }
    gram = (M.float().mT @ M.float())  # (B, n, n): the eigenproblem inside the Gram route
    timed["eigh(gram)"] = lambda: torch.linalg.eigh(gram)
    timed["eigh(gram) x2 batch"] = lambda: torch.linalg.eigh(torch.cat([gram, gram]))
    row = {name: median_ms(fn, device, args.repeats, args.warmup) for name, fn in timed.items()}
    row["err_gram"] = relative_error(gram_svd(M).S, exact_s)
    top = randomized_svd(M, args.rank, generator=rank_gen).S
    row["err_rand"] = relative_error(top, exact_s[..., : top.shape[-1]])
    top = subspace_svd(M, args.rank).S
    row["err_sub"] = relative_error(top, exact_s[..., : top.shape[-1]])
    return row


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    print(f"device: {device_name(device)} | torch {torch.__version__} | dtype {args.dtype} | "
          f"batch {args.batch} | decay {args.decay} | randomized rank {args.rank} | median of {args.repeats}")
    header = (f"{'shape':>10} {'exact ms':>9} {'gram ms':>9} {'rand ms':>9} {'filt ms':>9} "
              f"{'exact/gram':>10} {'exact/rand':>10} {'err gram':>9} {'err rand':>9}")
    print(header + f" {'eigh ms':>8} {'eigh 2B':>8} {'subsp ms':>8} {'err sub':>8}")
    for shape in args.shapes.split(","):
        m, n = (int(v) for v in shape.lower().split("x"))
        r = bench_shape(m, n, args, device)
        times = f"{r['exact']:9.2f} {r['gram']:9.2f} {r['randomized']:9.2f} {r['filter(gram)']:9.2f}"
        print(f"{shape:>10} {times} "
              f"{r['exact'] / r['gram']:10.2f} {r['exact'] / r['randomized']:10.2f} "
              f"{r['err_gram']:9.1e} {r['err_rand']:9.1e} {r['eigh(gram)']:8.2f} {r['eigh(gram) x2 batch']:8.2f} "
              f"{r['subspace']:8.2f} {r['err_sub']:8.1e}")


if __name__ == "__main__":
    main()
