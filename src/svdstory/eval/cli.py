"""`svdstory bench` and `svdstory report`."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import SvdStoryError
from .metric_info import DEFAULT_CLIP, DEFAULT_DINO, DEFAULT_DREAMSIM

EXIT_UNFINISHED = 75  # sysexits' EX_TEMPFAIL: not an error; run the same command again to go on
METHOD_HELP = ("[LABEL=]NAME[?KEY=VALUE&KEY=VALUE...], quoted; e.g. 'svd?target=kv&zero=energy:0.9' or "
               "'strong=svd?zero=rank:4'; repeat for more methods")


def add_bench_commands(subparsers) -> None:
    _bench_parser(subparsers)
    _report_parser(subparsers)


def _bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="run methods over a story suite; resumable; writes images, metrics, tables")
    p.add_argument("--suite", required=True, help="real, synthworld[:N] (world v2; also named synthworld-v2[:N]), or a YAML/JSON suite file")
    p.add_argument("--method", action="append", default=[], metavar="SPEC", help=METHOD_HELP)
    p.add_argument("--seeds", type=int, default=1, help="seeds per story (seed index k shifts every scene's seed)")
    p.add_argument("--limit", type=int, help="only the first N stories")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--size", type=int, help="image side in pixels (default: the model's)")
    p.add_argument("--model", help="hub id, diffusers folder or 'tiny' (default: the bundled mini model)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if present; each process its own GPU; "
                                    "with --per-device: every visible GPU, or the one named)")
    p.add_argument("--per-device", type=_whole_number, metavar="K",
                   help="start K processes on each visible GPU (the CPU if none), stories dealt across them")
    p.add_argument("--max-minutes", type=_minutes, metavar="M",
                   help="stop cleanly within M minutes (exit code 75): finished units are kept, rerun to resume")
    p.add_argument("--dtype", help="float32, float16 or bfloat16 (default: float16 on cuda)")
    p.add_argument("--metrics", default="auto",
                   help="auto, none, or a list of clip-t, clip-i, dino, dreamsim, synthworld (-fg: background "
                        "removed); auto: synthworld for the SynthWorld suite, else clip-t,clip-i,dino")
    p.add_argument("--clip-model", default=DEFAULT_CLIP,
                   help="transformers id/folder, open_clip:ARCH[@PRETRAINED], bundled:clip (the mini CLIP shipped for "
                        "SynthWorld), or tiny (random, for tests)")
    p.add_argument("--dino-model", default=DEFAULT_DINO, help="transformers id/folder, or tiny (random, for tests)")
    p.add_argument("--dreamsim-model", default=DEFAULT_DREAMSIM, help="dreamsim type[@weights folder]")
    p.add_argument("--segmenter", help="transformers image-segmentation id/folder for -fg metrics "
                                       "(default: each method's own masks)")
    p.add_argument("--evaluator", help="SynthWorld evaluator folder for the synthworld metrics (default: the bundled one)")
    p.add_argument("--out", required=True, help="bench folder; rerun the same command to resume")
    p.set_defaults(func=cmd_bench)


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="report.md and report.html over a bench folder")
    p.add_argument("dir", help="a bench folder")
    p.add_argument("--vs", nargs=2, action="append", default=[], metavar=("METHOD_A", "METHOD_B"),
                   help="paired comparison of two methods; repeat for more")
    p.add_argument("--claims", metavar="FILE",
                   help="YAML/JSON list of paired comparisons (a, b, family, metrics, claim): docs/report.md")
    p.add_argument("--method", help="method whose 10 best and worst stories are shown (default: the first)")
    p.add_argument("--rank-by", help="metric for best/worst (default: the identity metric)")
    p.add_argument("--prompt-metric", help="metric on the scatter's x axis (default: clip_t / prompt_alignment)")
    p.add_argument("--identity-metric", help="metric on the y axis (default: dreamsim, clip_i / identity_attr)")
    p.add_argument("--top", type=int, default=10, help="stories in each of best and worst (default 10)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--out", help="where to write the report (default: the bench folder)")
    p.set_defaults(func=cmd_report)


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of minutes above 0, got {text!r}")
    return value


def bench_config_from_args(args):
    from ..settings import SamplingConfig
    from .bench import BenchConfig
    from .methodspec import parse_method_specs
    from .metrics import MetricConfig, parse_metrics
    from .suites import load_suite

    methods = tuple(parse_method_specs(args.method))
    suite = load_suite(args.suite)
    metrics = MetricConfig(parse_metrics(args.metrics, suite.is_synthworld), args.clip_model, args.dino_model,
                           args.dreamsim_model, args.segmenter, args.evaluator)
    sampling = SamplingConfig(steps=args.steps, guidance=args.guidance, height=args.size, width=args.size)
    return BenchConfig(suite, methods, Path(args.out), metrics, sampling, args.seeds, args.limit, args.model,
                       args.device, args.dtype)


def _check_limits(cfg, size: int | None) -> None:
    """--steps and --size within what the model allows, from its files, before bench.json claims the folder."""
    from ..models import default_model_source
    from ..preflight import check_limits, read_model_files

    files = read_model_files(cfg.model or default_model_source())
    if files is not None:
        check_limits(files, cfg.sampling, {"--size": size})


def cmd_bench(args) -> int:
    from ..output import check_writable
    from .bench import Unfinished, print_summary, run_bench
    from .budget import TimeBudget
    from .shard import worker_from_env

    worker = worker_from_env()  # a process that --per-device started: the deadline is the whole call's
    budget = TimeBudget(worker.deadline) if worker else TimeBudget.minutes_from_now(args.max_minutes)
    cfg = bench_config_from_args(args)
    check_writable(cfg.out)
    _check_limits(cfg, args.size)
    argv = getattr(args, "argv", sys.argv)
    try:
        if args.per_device and worker is None:
            from .launch import launch_bench

            records = launch_bench(cfg, args.per_device, argv, budget)
        else:
            records = run_bench(cfg, argv, budget)
    except KeyboardInterrupt:
        if worker is None:  # the process that started the workers says it once
            print(f"svdstory: interrupted; finished units are kept in {cfg.out}: rerun the same command to resume",
                  file=sys.stderr)
        return 130
    except Unfinished as stop:
        why = f"--max-minutes {args.max_minutes:g} reached" if args.max_minutes else "stopped"
        print(f"svdstory: {why} with {stop.done} of {stop.total} units done in {cfg.out}: rerun the same command "
              "to resume", file=sys.stderr)
        return EXIT_UNFINISHED
    if records is not None:
        print(f"{len(records)} finished units in {cfg.out}")
        print_summary(records)
    return 0


def cmd_report(args) -> int:
    from .report import ReportOptions, build_report

    if not Path(args.dir, "records").is_dir():
        raise SvdStoryError(f"{args.dir!r} is not a bench folder (no records/ inside)")
    from .report.claims import claims_from

    options = ReportOptions(claims=claims_from(args.vs, args.claims), method=args.method, rank_by=args.rank_by,
                            prompt_metric=args.prompt_metric, identity_metric=args.identity_metric, top=args.top,
                            n_boot=args.bootstrap)
    paths = build_report(Path(args.dir), Path(args.out) if args.out else Path(args.dir), options)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
