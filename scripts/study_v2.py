"""The study on world v2 (issue 25) in three resumable stages, each a `svdstory bench` run with the project's
own machinery; this script holds only the settings and the rules that pick between them, written down
before any of them ran.

  sweep     every baseline and ConsiStory ablation, and svd with each target (kv, hidden, attn) under each
            zeroing rule at three strengths (gd: its own estimate), on the first N stories, one seed
  reweight  each reweighting (exp, power, topk) at two strengths on each target's best zeroing (RULE below),
            on the sweep's stories
  final     the finalists on every story with two seeds: every baseline and ablation, the front's members
            of the first two stages (identity gain over vanilla against background leakage), and svd's
            default by RULE

RULE, svd's default and each target's best zeroing: the highest identity gain over vanilla
(identity_attr) among the settings whose background leakage is no higher than ConsiStory's and whose
prompt alignment is within 0.02 of vanilla's; none qualifying, the highest gain with alignment within 0.02.

  python scripts/study_v2.py sweep --out runs/study [--stories 48] [--device cuda --per-device 4 --max-minutes 9]
  python scripts/study_v2.py reweight --out runs/study [...]
  python scripts/study_v2.py final --out runs/study [--stories 192] [...]

Each stage benches into OUT/<stage>/ (rerun the same command to resume; exit 75 while work is left) and
writes OUT/<stage>/choice.json (the RULE's picks and the front) once its records are complete.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EXIT_UNFINISHED = 75  # as `svdstory bench --max-minutes`
ALIGNMENT_SLACK = 0.02
BASELINES = ("vanilla", "storydiffusion", "1p1s", "shared", "consistory",
             "consistory_no_dropout=consistory?mask_dropout=0", "consistory_no_mix=consistory?query_mix=false",
             "consistory_no_injection=consistory?injection=false", "consistory_prepass10=consistory?prepass_steps=10",
             "consistory_release=consistory?release=true")
TARGETS = ("kv", "hidden", "attn")
ZEROING = ("rank:4", "rank:16", "rank:64", "energy:0.7", "energy:0.9", "energy:0.97", "tau:0.05", "tau:0.15",
           "tau:0.3", "gd", "soft:0.02", "soft:0.05", "soft:0.1")
REWEIGHTING = ("exp:0.01", "exp:0.03", "power:0.8", "power:0.6", "topk:4:1.5", "topk:4:2")


def label(target: str, zero: str, reweight: str = "none") -> str:
    name = f"svd_{target}_{zero.replace(':', '')}"
    return name if reweight == "none" else f"{name}_{reweight.replace(':', '')}"


def svd_spec(target: str, zero: str, reweight: str = "none") -> str:
    spec = f"{label(target, zero, reweight)}=svd?target={target}&zero={zero}"
    return spec if reweight == "none" else f"{spec}&reweight={reweight}"


def sweep_methods() -> list[str]:
    return [*BASELINES, *(svd_spec(t, z) for t in TARGETS for z in ZEROING)]


def reweight_methods(best_zero: dict[str, str]) -> list[str]:
    return [svd_spec(t, best_zero[t], r) for t in TARGETS for r in REWEIGHTING]


# ---------------------------------------------------------------- the rule, on a finished bench


METRICS = ("identity_attr", "background_agreement", "prompt_alignment")


def means(data) -> dict[str, dict[str, float]]:
    """{method: {metric: mean over its stories}} of a bench read back (`eval.report.data.BenchData`)."""
    table = {}
    for method in data.values:
        found = {k: list(data.story_values(method, k).values()) for k in METRICS}
        table[method] = {k: sum(v) / len(v) for k, v in found.items() if v}
    return table


def scores(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each method's identity gain, background leakage and alignment, all against vanilla."""
    base = table["vanilla"]
    return {m: {"gain": v["identity_attr"] - base["identity_attr"],
                "leakage": v["background_agreement"] - base["background_agreement"],
                "alignment": v["prompt_alignment"] - base["prompt_alignment"]} for m, v in table.items()}


def pick(scored: dict[str, dict[str, float]], candidates: list[str]) -> str | None:
    """RULE: the highest gain with leakage <= ConsiStory's and alignment within ALIGNMENT_SLACK of vanilla's."""
    aligned = [m for m in candidates if m in scored and scored[m]["alignment"] >= -ALIGNMENT_SLACK]
    limit = scored["consistory"]["leakage"]
    clean = [m for m in aligned if scored[m]["leakage"] <= limit]
    pool = clean or aligned
    return max(pool, key=lambda m: scored[m]["gain"]) if pool else None


def front(scored: dict[str, dict[str, float]]) -> list[str]:
    """The methods no other beats on both identity gain (higher) and leakage (lower)."""
    beats = lambda a, b: (a["gain"] >= b["gain"] and a["leakage"] <= b["leakage"]  # noqa: E731
                          and (a["gain"] > b["gain"] or a["leakage"] < b["leakage"]))
    return sorted(m for m, s in scored.items() if m != "vanilla" and not any(beats(o, s) for o in scored.values()))


def choose(data) -> dict:
    scored = scores(means(data))
    best_zero = {}
    for t in TARGETS:
        names = {label(t, z): z for z in ZEROING}
        chosen = pick(scored, list(names))
        if chosen:
            best_zero[t] = names[chosen]
    svd = [m for m in scored if m.startswith("svd_")]
    return {"scores": scored, "front": front(scored), "best_zero": best_zero, "svd_default": pick(scored, svd)}


# ---------------------------------------------------------------- the stages


def stage_methods(stage: str, out: Path) -> list[str]:
    if stage == "sweep":
        return sweep_methods()
    sweep = read_choice(out, "sweep")
    if stage == "reweight":
        return reweight_methods(sweep["best_zero"])
    rew = read_choice(out, "reweight")
    specs = {spec.split("=", 1)[0] if "=" in spec else spec: spec
             for spec in [*sweep_methods(), *reweight_methods(sweep["best_zero"])]}
    wanted = [*(b.split("=", 1)[0] if "=" in b else b for b in BASELINES), *sweep["front"], *rew["front"],
              rew["svd_default"] or sweep["svd_default"]]
    return list(dict.fromkeys(specs[m] for m in wanted if m in specs))


def read_choice(out: Path, stage: str) -> dict:
    path = out / stage / "choice.json"
    if not path.is_file():
        raise SystemExit(f"study_v2: {path} is missing: run the {stage} stage to its end first")
    return json.loads(path.read_text())


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=("sweep", "reweight", "final"))
    p.add_argument("--out", type=Path, required=True, help="study folder; each stage benches into OUT/<stage>")
    p.add_argument("--stories", type=int, help="world v2 stories (default: 48, the final stage 192)")
    p.add_argument("--model", help="model folder (default: the bundled mini SD)")
    p.add_argument("--device")
    p.add_argument("--per-device", type=int, metavar="K")
    p.add_argument("--max-minutes", type=float, metavar="M")
    p.add_argument("--steps", type=int)
    p.add_argument("--dry-run", action="store_true", help="print the bench command, run nothing")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    stories = args.stories or (192 if args.stage == "final" else 48)
    folder = args.out / args.stage
    command = [sys.executable, "-m", "svdstory", "bench", "--suite", f"synthworld:{stories}", "--out", str(folder),
               "--seeds", "2" if args.stage == "final" else "1"]
    for spec in stage_methods(args.stage, args.out):
        command += ["--method", spec]
    for flag, value in (("--model", args.model), ("--device", args.device), ("--per-device", args.per_device),
                        ("--max-minutes", args.max_minutes), ("--steps", args.steps)):
        command += [flag, str(value)] if value is not None else []
    if args.dry_run:
        print(" ".join(command))
        return 0
    code = subprocess.run(command).returncode
    if code:
        return code
    from svdstory.eval.report.data import load_bench
    from svdstory.output import atomic_write_json

    choice = choose(load_bench(folder))
    atomic_write_json(folder / "choice.json", choice)
    print(json.dumps({k: v for k, v in choice.items() if k != "scores"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
