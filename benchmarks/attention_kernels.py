r"""Masked sharing's attention calls alone, kernel against kernel, at SDXL's shapes.

    python benchmarks/attention_kernels.py --device cuda

ConsiStory's SDSA gives each group of images its own number of shared keys, different at every call.
This times, per layer call (CUDA events, median over calls whose shared lengths vary as in a run):
- `own keys only`: the plain self-attention of the layer, with each SDPA backend;
- `groups, <backend>`: one call per group of images over [own | shared] (what runs on a CPU, with
  PyTorch before 2.10 and for storydiffusion);
- `packed`: one variable-length FlashAttention call for the whole batch over keys gathered by one
  index list per step (`attention.shared_tokens.Packed`), what runs on a GPU.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

if importlib.util.find_spec("svdstory") is None:  # an installed or PYTHONPATH svdstory is the one measured
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BACKENDS = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def timed(fn, calls: int, device: str) -> float:
    """Median milliseconds of fn(i) over calls i = 0..calls-1 (after two warm-up calls)."""
    fn(0), fn(1)
    if not device.startswith("cuda"):
        import time
        times = []
        for i in range(calls):
            start = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)
    times = []
    for i in range(calls):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--share", type=float, default=0.125,
                        help="shared tokens of one anchor, as a fraction of its tokens (mask after dropout)")
    args = parser.parse_args()
    from svdstory.attention.extended import anchor_keys
    from svdstory.attention.extended import Compacted, pack, packs
    from svdstory.attention.extended import attend_groups
    from svdstory.state import BatchLayout

    device, dtype = args.device, getattr(torch, args.dtype)
    layout = BatchLayout(4, True)  # 4 images, classifier-free guidance: batch 8; anchors 0 and 1
    if device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(torch.device(device))}; torch {torch.__version__}; {args.dtype}")
    print("\n| layer (batch x heads x tokens x dim) | variant | ms per call | x own keys (default backend) |")
    print("| --- | --- | --- | --- |")
    gen = torch.Generator().manual_seed(0)
    for heads, tokens in ((10, 4096), (20, 1024)):  # SDXL's 64x64 and 32x32 self-attention at 1024 px
        shape = (layout.chunks * layout.n_images, heads, tokens, 64)
        q, k, v = (torch.randn(shape, device=device, dtype=dtype) for _ in range(3))
        sk, sv = (anchor_keys(x, layout, [0, 1]) for x in (k, v))  # anchors 0 and 1 of the batch
        scale = 64 ** -0.5
        # per call: each anchor's shared positions, of a length that changes from call to call
        patterns = []
        for _ in range(args.calls + 2):
            lengths = [int(tokens * args.share * (0.8 + 0.4 * torch.rand(1, generator=gen).item())) for _ in range(2)]
            idx = [torch.randperm(tokens, generator=gen)[:n].sort().values + a * tokens for a, n in enumerate(lengths)]
            groups = ((0, 1), (1, 2), (2, 4))  # anchor 0 sees anchor 1, anchor 1 sees anchor 0, the rest see both
            indices = (idx[1], idx[0], torch.cat(idx))
            patterns.append(Compacted(groups, tuple(i.to(device) for i in indices)))
        label = "x".join(map(str, shape))

        def dense(p):  # (n, A*T) bool pattern of a compacted one
            allowed = torch.zeros(layout.n_images, 2 * tokens, dtype=torch.bool)
            for (start, stop), idx in zip(p.groups, p.indices):
                allowed[start:stop, idx.cpu()] = True
            return allowed
        base = timed(lambda i: F.scaled_dot_product_attention(q, k, v, scale=scale), args.calls, device)
        rows = [("own keys only, default backend", base)]
        for name, backend in BACKENDS.items():
            try:
                with sdpa_kernel([backend]):
                    rows.append((f"own keys only, {name}",
                                 timed(lambda i: F.scaled_dot_product_attention(q, k, v, scale=scale), args.calls,
                                       device)))
            except RuntimeError as err:
                rows.append((f"own keys only, {name}: {str(err).splitlines()[0][:60]}", float("nan")))
        groups = lambda i: [(a, b, sk[:, :, idx], sv[:, :, idx], 0.0)
                            for (a, b), idx in zip(patterns[i].groups, patterns[i].indices)]
        for name in ("flash", "cudnn"):
            try:
                with sdpa_kernel([BACKENDS[name]]):
                    rows.append((f"groups over [own | shared], {name}",
                                 timed(lambda i: attend_groups(q, k, v, groups(i), layout, scale, None),
                                       args.calls, device)))
            except RuntimeError as err:
                rows.append((f"groups, {name}: {str(err).splitlines()[0][:60]}", float("nan")))
        anchors = [0, 1]
        packed = [pack(dense(p), anchors, layout, tokens, device) for p in patterns]
        if packs(q, None):
            rows.append(("packed: one variable-length call (as shipped)",
                         timed(lambda i: packed[i].attend(q, k, v, None, None, layout, scale),
                               args.calls, device)))
            rows.append(("packed, with building the index list at every call",
                         timed(lambda i: pack(dense(patterns[i]), anchors, layout, tokens, device).attend(
                             q, k, v, None, None, layout, scale), args.calls, device)))
        for text, ms in rows:
            print(f"| {label} | {text} | {ms:.3f} | {ms / base:.2f} |", flush=True)
        # the shipped route against the reference: one dense-masked float32 call over all anchor tokens
        allowed = dense(patterns[0]).to(device)
        got = (packed[0] if packs(q, None) else patterns[0]).attend(q, k, v, sk, sv, layout, scale)
        keys = torch.cat([k, sk.repeat_interleave(layout.n_images, 0)], 2)
        values = torch.cat([v, sv.repeat_interleave(layout.n_images, 0)], 2)
        own = torch.ones(layout.n_images, tokens, dtype=torch.bool, device=device)
        mask = torch.cat([own, allowed], 1).repeat(layout.chunks, 1)[:, None, None, :]
        want = F.scaled_dot_product_attention(q.float(), keys.float(), values.float(), attn_mask=mask, scale=scale)
        print(f"| {label} | max abs difference to a dense fp32 reference | {(got.float() - want).abs().max().item():.2e} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
