"""The `svdstory` command line: subcommands mapped onto the config dataclasses."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import SvdStoryError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(2, f"svdstory: error: {message}\n")


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate one image per scene with a consistent subject")
    p.add_argument("--subject", help='the subject, e.g. "a red bus"')
    p.add_argument("--scene", action="append", default=[], help="a scene; repeat for more images")
    p.add_argument("--token", action="append", default=[], help="subject word(s) to localise (default: head noun)")
    p.add_argument("--style", default="", help='text before the subject, e.g. "a watercolor painting of"')
    p.add_argument("--story", help="a YAML story file (subject, scenes, tokens, style, seeds)")
    p.add_argument("--method", default="consistory", help="consistency method (see `svdstory methods`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a method option")
    p.add_argument("--model", help="hub id or local diffusers folder (default: the bundled mini model)")
    p.add_argument("--revision", help="hub revision of --model")
    p.add_argument("--seed", type=int, default=0, help="image i uses seed + i")
    p.add_argument("--same-latent", action="store_true", help="every image starts from the same noise")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's, else 50)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default 5.0)")
    p.add_argument("--height", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if present)")
    p.add_argument("--dtype", help="float32, float16 or bfloat16 (default: float16 on cuda)")
    p.add_argument("--anchors-first", action="store_true",
                   help="generate the anchor images as a batch, then each other scene alone (less memory)")
    p.add_argument("--attention-chunk", type=int, help="queries per extended-attention call (bounds memory)")
    p.add_argument("--vae-slicing", action="store_true", help="decode one image at a time (less memory)")
    p.add_argument("--vae-tiling", action="store_true", help="decode in tiles (large images, less memory)")
    p.add_argument("--out", required=True, help="output folder (must not hold a previous run)")
    p.set_defaults(func=cmd_generate)


def _methods_parser(sub) -> None:
    p = sub.add_parser("methods", help="list the methods and their options")
    p.set_defaults(func=cmd_methods)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="svdstory", description="Training-free consistent subject generation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _generate_parser(sub)
    _methods_parser(sub)
    try:
        from .world.cli import add_world_commands
    except ImportError:
        add_world_commands = None
    if add_world_commands is not None:
        add_world_commands(sub)
    from .eval.cli import add_bench_commands

    add_bench_commands(sub)
    from .ui.cli import add_ui_command

    add_ui_command(sub)
    return parser


def _story_from_args(args):
    from .story import Story, load_story

    if args.story:
        overrides = {"subject": args.subject, "scenes": args.scene, "tokens": args.token, "style": args.style}
        return load_story(args.story, overrides)
    if not args.subject:
        raise SvdStoryError("--subject is required (or give --story FILE.yaml)")
    return Story(args.subject, tuple(args.scene), tuple(args.token), args.style)


def cmd_generate(args) -> int:
    from .config import SamplingConfig
    from .generate import method_config
    from .output import check_out_dir

    story = _story_from_args(args)
    method_config(args.method, args.set)  # validate options before loading any model
    out = Path(args.out)
    check_out_dir(out)
    sampling = SamplingConfig(steps=args.steps, guidance=args.guidance, height=args.height, width=args.width,
                              seed=args.seed, same_latent=args.same_latent, attention_chunk=args.attention_chunk)
    from .models import load_model
    from .runner import TerminalBar, run_story

    model = load_model(args.model, args.device, args.dtype, args.revision)
    if args.vae_slicing:
        model.pipe.vae.enable_slicing()
    if args.vae_tiling:
        model.pipe.vae.enable_tiling()
    bar = TerminalBar(f"{args.method}: {len(story.scenes)} images")
    try:
        result = run_story(model, story, args.method, args.set, sampling, args.anchors_first, bar)
    finally:
        bar.close()
    from .output import save_result

    save_result(result, out, {"command": getattr(args, "argv", sys.argv)})
    print(f"wrote {len(result.images)} images to {out}")
    return 0


def cmd_methods(args) -> int:
    from .methods.options import as_text, describe, summary
    from .methods.registry import method_names

    for name in method_names():
        print(f"{name}: {summary(name)}")
        for opt in describe(name):
            allowed = f"  (one of: {', '.join(opt.choices)})" if opt.choices else ""
            print(f"    {opt.name}={as_text(opt.default)}  [{opt.type}]{allowed}\n        {opt.help}")
    return 0


def _quiet_libraries() -> None:
    """Library chatter (loading bars, optional-dependency notices) would bury svdstory's one-line errors."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main(argv=None) -> int:
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["svdstory", *(sys.argv[1:] if argv is None else argv)]  # run.json records the real command
    try:
        return args.func(args)
    except SvdStoryError as err:
        print(f"svdstory: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("svdstory: interrupted; nothing was written for the unfinished run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
