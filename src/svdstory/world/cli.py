"""`svdstory world info` and `svdstory world render`: list the world, write labelled samples."""

from __future__ import annotations

import argparse
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from ..settings import check_seed
from svdstory.errors import SvdStoryError
from svdstory.output import check_writable, staged
from svdstory.world.catalog import SCENES, SUBJECTS, info
from svdstory.world.catalog import DEFAULT_WORLD, WORLDS
from svdstory.world.labels import check_choice
from svdstory.world.render import check_size
from svdstory.world.sampling import sample


def add_world_commands(subparsers) -> None:
    world = subparsers.add_parser("world", help="the procedural SynthWorld: list it, render labelled samples")
    commands = world.add_subparsers(dest="world_command", required=True)
    show = commands.add_parser("info", help="subject classes, hidden attributes, scenes, props and caption words")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(func=run_info)
    draw = commands.add_parser("render", help="write images, masks and labels.jsonl")
    draw.add_argument("--out", required=True, help="output folder (created if missing)")
    draw.add_argument("--n", type=int, default=16, help="number of samples (default 16)")
    draw.add_argument("--seed", type=int, default=0, help="seed of the first sample; sample i uses seed + i")
    draw.add_argument("--subject", default=None, help="fix the subject class (default: random)")
    draw.add_argument("--scene", default=None, help="fix the scene class (default: random)")
    draw.add_argument("--size", type=int, default=128, help="image side in pixels (multiple of 16, >= 64)")
    draw.add_argument("--attribute-rate", type=float, default=0.3, help="fraction of captions naming attributes")
    draw.add_argument("--world", type=int, choices=WORLDS, default=DEFAULT_WORLD,
                      help=f"world version (default {DEFAULT_WORLD}; 1: no hidden background or layout, no props)")
    draw.set_defaults(func=run_render)


def run_info(args: argparse.Namespace) -> int:
    summary = info()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(_table(summary))
    return 0


def _table(summary: dict) -> str:
    """The catalogue as two aligned columns, one block per part of the world."""
    blocks = [[(f"world v{summary['world']}", f"(versions {', '.join(map(str, summary['versions']))})")],
              [("family", "subject classes")] + [(f, ", ".join(n)) for f, n in summary["families"].items()]]
    for title, part in (("identity", "attributes"), ("background", "background"), ("layout", "layout")):
        blocks.append([(title, "values")] + [(name, ", ".join(v)) for name, v in summary[part].items()])
    blocks.append([("scene", "in a prompt / props (classes that stand in its background)")]
                  + [(s, f"{summary['scene_phrases'][s]:<14} {', '.join(summary['props'][s])}") for s in SCENES])
    blocks.append([("words", f"every caption word, one token each ({len(summary['words'])})")]
                  + [("", line) for line in _wrap(summary["words"])])
    rows = [row for block in blocks for row in block + [("", "")]][:-1]
    width = max(len(left) for left, _ in rows)
    return "\n".join(f"{left:<{width}}  {right}".rstrip() for left, right in rows)


def _wrap(words: list[str], width: int = 80) -> list[str]:
    lines = [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def _check_render_args(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise SvdStoryError(f"--n must be at least 1, got {args.n}")
    check_seed(args.seed)  # the range `svdstory generate` accepts: torch's generators, no negative aliases
    check_seed(args.seed + args.n - 1, f"--seed {args.seed} + {args.n - 1} (the last sample's)")
    if not (math.isfinite(args.attribute_rate) and 0.0 <= args.attribute_rate <= 1.0):
        raise SvdStoryError(f"--attribute-rate must lie in [0, 1], got {args.attribute_rate}")
    check_size(args.size)
    if args.subject is not None:
        check_choice("subject", args.subject, SUBJECTS)
    if args.scene is not None:
        check_choice("scene", args.scene, SCENES)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SvdStoryError(f"--out {args.out!r} exists and is not a folder")
    check_writable(args.out)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def run_render(args: argparse.Namespace) -> int:
    """The samples, their masks and labels.jsonl, written into --out at once (a full disk leaves none)."""
    _check_render_args(args)
    try:
        with staged(Path(args.out)) as folder:
            _write_samples(args, folder)
    except OSError as err:
        raise SvdStoryError(f"--out {args.out!r} could not be written: {err.strerror or err}") from None
    print(f"wrote {args.n} samples ({args.size}px) to {args.out}")
    return 0


def _write_samples(args: argparse.Namespace, folder: Path) -> None:
    lines = []
    for index in range(args.n):
        seed = args.seed + index
        s = sample(seed, subject=args.subject, scene=args.scene, size=args.size, attribute_rate=args.attribute_rate,
                   world=args.world)
        image, mask = f"{index:05d}.png", f"{index:05d}_mask.png"
        (folder / image).write_bytes(_png(s.image))
        (folder / mask).write_bytes(_png(s.mask.astype(np.uint8) * 255))
        record = {"index": index, "seed": seed, "image": image, "mask": mask, "caption": s.caption,
                  "labels": s.labels.to_dict()}
        if s.labels.world >= 2:  # pixel value k + 1 where prop k (of labels.props) shows, 0 elsewhere
            record["prop_map"] = f"{index:05d}_props.png"
            (folder / record["prop_map"]).write_bytes(_png((s.prop_map + 1).astype(np.uint8)))
        lines.append(json.dumps(record))
    (folder / "labels.jsonl").write_text("\n".join(lines) + "\n")
