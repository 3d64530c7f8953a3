"""Measure the bars of issue 18 (SynthWorld v2) for a model folder and an evaluator folder.

Runs the project's own machinery and only measures (nothing is tuned): `svdstory bench` over plain-style
world v2 stories for vanilla, consistory, shared and 1p1s at their defaults (into OUT/bench, resumable),
scripts/eval_minisd.py on fresh plain prompts (OUT/generation.json) and benchmarks/command_time.py on
2 CPU cores (OUT/timing.json); then every bar from those, with 95% bootstrap intervals over stories
(the report's stats helpers), into OUT/bars.json and OUT/bars.md. A bar passes when its measured mean
meets the threshold; the interval is reported, not tested. Rerun the same command to resume; with
--max-minutes it exits 75 while work is left, as the bench does. Bars that need world v2 metrics read
"not measurable" with a world v1 evaluator.

  python scripts/v2_bars.py --model src/svdstory/assets/minisd --evaluator src/svdstory/assets/evaluator \\
      --out runs/bars --stories 48 --images 512 --device cuda --per-device 4 --max-minutes 9
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("vanilla", "consistory", "shared", "1p1s")  # every one at its defaults
EXIT_UNFINISHED = 75  # as `svdstory bench --max-minutes`: not an error, run the same command again
N_BOOT, SEED = 2000, 0  # the report's defaults
MIB = 2**20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx")
TIME_CORES = 2


# ---------------------------------------------------------------- the bars


@dataclass(frozen=True)
class Bar:
    key: str  # stable id, e.g. "localisation.auroc.animal"
    what: str  # in words, as in the bars table
    op: str  # ">=", "<=", "within" (the value lies within ±limit of 0), or "" for a number reported beside a bar
    limit: float | None = None
    need: int = 0  # the sample size the issue names (images or stories); 0: none


@dataclass(frozen=True)
class Measured:
    value: float | None  # None: not measurable (note says why)
    low: float | None = None  # 95% percentile-bootstrap interval over stories, where there is one
    high: float | None = None
    n: int = 0  # images or stories behind the value
    note: str = ""


def meets(bar: Bar, value: float) -> bool:
    return {">=": value >= bar.limit, "<=": value <= bar.limit, "within": abs(value) <= bar.limit}[bar.op]


def judge(bar: Bar, m: Measured) -> dict:
    """One row of bars.json: the bar, the measurement and its status (pass, fail, too few: the sample is
    smaller than the issue asks, reported, not measurable)."""
    if m.value is None:
        status, met = "not measurable", None
    elif not bar.op:
        status, met = "reported", None
    else:
        met = meets(bar, m.value)
        status = "too few" if m.n < bar.need else ("pass" if met else "fail")
    threshold = "" if not bar.op else (f"within ±{bar.limit:g}" if bar.op == "within" else f"{bar.op} {bar.limit:g}")
    return {"bar": bar.key, "what": bar.what, "value": m.value, "ci_low": m.low, "ci_high": m.high, "n": m.n,
            "need": bar.need or None, "threshold": threshold, "meets_threshold": met, "status": status,
            "note": m.note}


def estimate(e, note: str = "") -> Measured:
    """A stats.Estimate as a Measured; an empty one (no story) is not measurable."""
    return Measured(None, note="no story has values") if e.n == 0 else Measured(e.mean, e.low, e.high, e.n, note)


# ---------------------------------------------------------------- from the bench records


def stories_of(data, family: str | None = None, scenes: int | None = None) -> set[str]:
    return {s for s, item in data.stories.items()
            if (family is None or item["category"] == family) and (scenes is None or len(item["scenes"]) == scenes)}


def missing(data, method: str, metric: str, world: int) -> str | None:
    """Why the bench cannot give `metric` of `method`, or None if it can."""
    if method not in data.methods:
        return f"the bench holds no {method} story"
    if not data.story_values(method, metric):
        if metric.startswith(("background_", "layout_")) and world < 2:
            return "not measurable with this evaluator (world v1: no background or layout heads)"
        return f"no {method} story has {metric}"
    return None


def story_mean(data, method: str, metric: str, world: int, stories=None) -> Measured:
    from svdstory.eval.report.stats import bootstrap_ci

    why = missing(data, method, metric, world)
    if why:
        return Measured(None, note=why)
    return estimate(bootstrap_ci(list(data.story_values(method, metric, stories).values()), N_BOOT, SEED))


def story_gain(data, a: str, b: str, metric: str, world: int, stories=None, chance: bool = False) -> Measured:
    """Mean of a's metric minus b's (b's `<metric>_chance` if `chance`) over the stories both have, with a
    paired bootstrap interval; the note gives both means."""
    from svdstory.eval.report.stats import paired_difference

    other = f"{metric}_chance" if chance else metric
    why = missing(data, a, metric, world) or missing(data, b, other, world)
    if why:
        return Measured(None, note=why)
    x, y = data.story_values(a, metric, stories), data.story_values(b, other, stories)
    both = set(x) & set(y)
    mean = lambda d: sum(d[s] for s in both) / len(both) if both else math.nan  # noqa: E731
    names = (a, "chance") if chance else (a, b)
    return estimate(paired_difference(x, y, N_BOOT, SEED),
                    f"{names[0]} {mean(x):.3f}, {names[1]} {mean(y):.3f}")


def leakage(data, method: str, world: int) -> Measured:
    """`background_leakage` of `method` over vanilla: background_agreement, paired over stories."""
    from svdstory.eval.synthworld.metrics import background_leakage

    why = missing(data, method, "background_agreement", world) or missing(data, "vanilla", "background_agreement",
                                                                        world)
    if why:
        return Measured(None, note=why)
    found = background_leakage(data.story_values(method, "background_agreement"),
                               data.story_values("vanilla", "background_agreement"))
    return Measured(found["background_leakage"], found["ci_low"], found["ci_high"], found["n_stories"],
                    f"{method} {found['method']:.3f}, vanilla {found['vanilla']:.3f}")


def gate(family: str, limit: float) -> tuple[str, float | None]:
    """The bars name animal stories; object stories are measured the same way and only reported."""
    return (">=", limit) if family == "animal" else ("", None)


def bench_bars(data, world: int) -> list[tuple[Bar, Measured]]:
    """Every bar measured on the bench: vanilla at chance, localisation, ConsiStory's gain, leakage, 1p1s."""
    rows = [(Bar(f"vanilla.{m}", f"vanilla {m} - chance", "within", 0.05),
             story_gain(data, "vanilla", "vanilla", m, world, chance=True))
            for m in ("identity_attr", "background_agreement", "layout_agreement")]
    families = [(family, stories_of(data, family)) for family in ("animal", "object")]
    for family, stories in families:
        rows += [(Bar(f"localisation.auroc.{family}", f"consistory mask_auroc, {family} stories",
                      *gate(family, 0.85)), story_mean(data, "consistory", "mask_auroc", world, stories)),
                 (Bar(f"localisation.iou.{family}", f"consistory mask_iou, {family} stories", *gate(family, 0.5)),
                  story_mean(data, "consistory", "mask_iou", world, stories))]
    rows += [(Bar(f"consistory.identity.{family}", f"consistory - vanilla identity_attr, {family} stories",
                  *gate(family, 0.25)), story_gain(data, "consistory", "vanilla", "identity_attr", world, stories))
             for family, stories in families]
    rows += [(Bar("leakage.shared", "shared - vanilla background_agreement", ">=", 0.10, need=48),
              leakage(data, "shared", world)),
             (Bar("leakage.consistory", "consistory - vanilla background_agreement", ""),
              leakage(data, "consistory", world)),
             (Bar("1p1s.alignment", "1p1s prompt_alignment, 4-scene stories", ">=", 0.85),
              story_mean(data, "1p1s", "prompt_alignment", world, stories_of(data, scenes=4)))]
    return rows


# ---------------------------------------------------------------- from eval_minisd, sizes and times


def generation_bars(report: dict | None, heads: dict) -> list[tuple[Bar, Measured]]:
    """subject and scene accuracy and the normalised entropy of every hidden attribute's calls over
    eval_minisd's plain prompts; `heads`: group -> attribute names of the evaluator (empty group: v1)."""
    result = next(iter(report["results"].values())) if report else None
    if result is None:
        return []
    n = report["n"]
    rows = [(Bar(f"generation.{key}", f"{what} correct, plain prompts", ">=", 0.95, need=500),
             Measured(result["plain"][key], n=n)) for key, what in (("subject", "subject class"), ("scene", "scene"))]
    entropy = result["plain_attribute_entropy"]
    for group, names in heads.items():
        prefix = "" if group == "identity" else f"{group}_"
        if not names:
            rows.append((Bar(f"generation.entropy.{group}", f"entropy of every {group} attribute", ">=", 0.85,
                             need=500), Measured(None, note="not measurable with this evaluator (world v1: no "
                                                              f"{group} heads)")))
        for name in names:
            rows.append((Bar(f"generation.entropy.{group}.{name}", f"entropy of {group} attribute {name}", ">=",
                             0.85, need=500), Measured(entropy.get(prefix + name), n=n)))
    return rows


def budget_bars(weight_bytes: int, folders: list[Path], timing: dict | None) -> list[tuple[Bar, Measured]]:
    seconds = timing.get("seconds") if timing else None
    return [(Bar("budget.weights", "shipped weights, MiB", "<=", 32.0),
             Measured(weight_bytes / MIB, note="weight files of " + ", ".join(str(f) for f in folders))),
            (Bar("budget.time", f"4-image story, default method, {TIME_CORES} CPU cores, s", "<=", 30.0),
             Measured(seconds, note=(timing or {}).get("note", "not timed")))]


def weight_bytes(folders: list[Path]) -> int:
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*")
               if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def evaluator_heads(folder: Path) -> tuple[int, dict]:
    """(world, group -> attribute names) of an evaluator folder's config."""
    from svdstory.mini.evaluator import CONFIG_NAME, config_from_json

    cfg = config_from_json(json.loads((folder / CONFIG_NAME).read_text()))
    names = lambda heads: [name for name, _ in heads]  # noqa: E731
    return cfg.world, {"identity": names(cfg.attributes), "background": names(cfg.background),
                       "layout": names(cfg.layout)}


# ---------------------------------------------------------------- the runs


def plain_stories(n: int) -> list[dict]:
    """The first `n` plain-style stories ("a cat" + "in a forest", no style words) of the world v2 suite;
    the suite gives style STYLES_V2[k % 5] to story k, so 5n stories hold n of them."""
    from svdstory.eval.synthworld.suite import STYLES_V2, synthworld_suite_v2

    plain = [s for s in synthworld_suite_v2(len(STYLES_V2) * n) if s["truth"]["style"] == ""]
    return plain[:n]


def run(command: list[str], budget, **kw) -> subprocess.CompletedProcess | None:
    """The command to its end, or None if the budget ran out first (the process is then killed)."""
    left = budget.left()
    try:
        return subprocess.run(command, timeout=None if math.isinf(left) else max(1.0, left), **kw)
    except subprocess.TimeoutExpired:
        return None


def run_bench(args, out: Path, budget) -> int:
    command = [sys.executable, "-m", "svdstory", "bench", "--suite", str(out / "stories.json"),
               "--model", str(args.model), "--evaluator", str(args.evaluator), "--out", str(out / "bench"),
               *[a for m in METHODS for a in ("--method", m)]]
    for flag, value in (("--steps", args.steps), ("--device", args.device), ("--per-device", args.per_device)):
        command += [flag, str(value)] if value is not None else []
    if args.max_minutes is not None:
        if budget.left() < 6:
            return EXIT_UNFINISHED
        command += ["--max-minutes", f"{budget.left() / 60:.3f}"]
    return subprocess.run(command).returncode


def run_generation(args, out: Path, budget) -> int:
    path = out / "generation.json"
    if path.is_file():
        return 0
    command = [sys.executable, str(ROOT / "scripts" / "eval_minisd.py"), "--model", str(args.model), "--evaluator",
               str(args.evaluator), "--n", str(args.images), "--json", str(path)]
    defaults = model_defaults(args.model)
    steps = args.steps or defaults.get("steps")
    command += (["--steps", str(steps)] if steps else []) + (["--device", args.device] if args.device else [])
    command += ["--guidance", str(defaults["guidance"])] if "guidance" in defaults else []
    done = run(command, budget)
    return EXIT_UNFINISHED if done is None else done.returncode


def run_timing(args, out: Path, budget) -> int:
    """benchmarks/command_time.py (the default method, the model's default steps) on 2 CPU cores."""
    path = out / "timing.json"
    if path.is_file():
        return 0
    cores = sorted(os.sched_getaffinity(0))[:TIME_CORES]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(TIME_CORES)}
    done = run([sys.executable, str(ROOT / "benchmarks" / "command_time.py"), "--model", str(args.model),
                "--threads", str(TIME_CORES)], budget, env=env, capture_output=True, text=True,
               preexec_fn=lambda: os.sched_setaffinity(0, cores))
    if done is None:
        return EXIT_UNFINISHED
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        return done.returncode
    found = re.search(r"^\| whole command \((.*)\) \| ([0-9.]+) \|", done.stdout, re.M)
    timing = {"seconds": float(found.group(2)) if found else None, "table": done.stdout,
              "note": f"whole command, cold process ({found.group(1) if found else 'no total found'}), "
                      f"CPU cores {cores}"}
    path.write_text(json.dumps(timing, indent=1))
    (out / "timing.md").write_text(done.stdout)
    return 0


def model_defaults(folder: Path) -> dict:
    """The model's shipped sampling defaults (svdstory.json: steps, guidance), if it has them."""
    path = Path(folder) / "svdstory.json"
    return json.loads(path.read_text()) if path.is_file() else {}


# ---------------------------------------------------------------- the command


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="diffusers pipeline folder (the mini SD)")
    p.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (config.json, model.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="output folder; rerun the same command to resume")
    p.add_argument("--stories", type=int, default=48, help="plain-style world v2 stories in the bench (default 48)")
    p.add_argument("--images", type=int, default=512, help="plain-prompt images for the generation bar (default 512)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if present)")
    p.add_argument("--per-device", type=int, metavar="K", help="bench processes per device (svdstory bench)")
    p.add_argument("--max-minutes", type=float, metavar="M", help="stop within M minutes, exit 75 if work is left")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--also-shipped", type=Path, action="append", default=[], metavar="DIR",
                   help="another folder whose weights ship and count towards the size bar (repeatable)")
    args = p.parse_args(argv)
    if args.stories < 1 or args.images < 1 or (args.steps is not None and args.steps < 1):
        p.error("--stories, --images and --steps must be at least 1")
    return args


def claim(out: Path, args, stories: list[dict]) -> dict:
    """OUT/settings.json: what the bars depend on. A folder measured with other settings is refused."""
    settings = {"model": str(args.model), "evaluator": str(args.evaluator), "stories": args.stories,
                "images": args.images, "steps": args.steps,
                "story_digest": hashlib.sha256(json.dumps(stories, sort_keys=True).encode()).hexdigest()[:16]}
    path = out / "settings.json"
    if path.is_file() and json.loads(path.read_text()) != settings:
        raise SystemExit(f"v2_bars: {out} holds bars measured with other settings ({path}): use another --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))
    (out / "stories.json").write_text(json.dumps({"stories": stories}, indent=1))
    return settings


def measure(args, out: Path) -> dict:
    from svdstory.eval.report.data import load_bench

    world, heads = evaluator_heads(args.evaluator)
    read = lambda name: json.loads((out / name).read_text()) if (out / name).is_file() else None  # noqa: E731
    folders = [args.model, args.evaluator, *args.also_shipped]
    measured = (generation_bars(read("generation.json"), heads)
                + bench_bars(load_bench(out / "bench"), world)
                + budget_bars(weight_bytes(folders), folders, read("timing.json")))
    rows = [judge(bar, m) for bar, m in measured]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("pass", "fail", "too few", "not measurable")}
    return {"model": str(args.model), "evaluator": str(args.evaluator), "evaluator_world": world,
            "stories": args.stories, "images": args.images,
            "steps": args.steps or model_defaults(args.model).get("steps"),
            "methods": list(METHODS), "bootstrap": {"resamples": N_BOOT, "seed": SEED, "level": 0.95},
            "counts": counts, "all_pass": counts["pass"] == sum(counts.values()), "bars": rows}


def markdown(result: dict) -> str:
    num = lambda v: "-" if v is None else f"{v + 0.0:.3f}"  # noqa: E731  (+ 0.0: no "-0.000")
    verdict = {True: " (meets it)", False: " (misses it)"}
    lines = [f"# Issue 18 bars: {result['model']} with {result['evaluator']}", "",
             f"Evaluator world v{result['evaluator_world']}; {result['stories']} plain-style world v2 stories, "
             f"methods {', '.join(result['methods'])} at their defaults; {result['images']} plain-prompt images; "
             f"{result['steps']} steps. Pass: the measured mean meets the threshold (the 95% bootstrap interval "
             "over stories is shown, not tested); too few: the sample is smaller than the issue asks (n < need).",
             "", "| bar | measured | 95% CI | n | need | threshold | status |",
             "| --- | ---: | --- | ---: | ---: | --- | --- |"]
    for r in result["bars"]:
        ci = "-" if r["ci_low"] is None else f"[{num(r['ci_low'])}, {num(r['ci_high'])}]"
        status = r["status"] + (verdict[r["meets_threshold"]] if r["status"] == "too few" else "")
        lines.append(f"| {r['what']} | {num(r['value'])} | {ci} | {r['n'] or '-'} | {r['need'] or '-'} | "
                     f"{r['threshold'] or '-'} | {status} |")
    notes = [f"- {r['what']}: {r['note']}" for r in result["bars"] if r["note"]]
    counts = ", ".join(f"{n} {s}" for s, n in result["counts"].items())
    return "\n".join(lines + ["", f"Bars: {counts}.", "", "Notes:", *notes, ""])


def main(argv=None) -> int:
    from svdstory.eval.budget import TimeBudget

    args = parse_args(argv)
    for folder, needed in ((args.model, "model_index.json"), (args.evaluator, "config.json")):
        if not (folder / needed).is_file():
            raise SystemExit(f"v2_bars: {folder} has no {needed}")
    budget = TimeBudget.minutes_from_now(args.max_minutes)
    claim(args.out, args, plain_stories(args.stories))
    for step in (run_bench, run_generation, run_timing):
        code = step(args, args.out, budget)
        if code:
            if code == EXIT_UNFINISHED:
                print(f"v2_bars: not finished ({step.__name__}); rerun the same command to resume", file=sys.stderr)
            return code
    result = measure(args, args.out)
    text = markdown(result)
    (args.out / "bars.json").write_text(json.dumps(result, indent=1))
    (args.out / "bars.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
