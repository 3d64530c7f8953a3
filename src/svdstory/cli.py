"""The `svdstory` command line: subcommands mapped onto the config dataclasses."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from pathlib import Path

from .errors import SvdStoryError
from .settings import FREEU_RELEASE


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(2, f"svdstory: error: {message}\n")


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate one image per scene with a consistent subject")
    p.add_argument("--subject", help='the subject, e.g. "a red bus"')
    p.add_argument("--scene", action="append", default=[], help="a scene; repeat for more images")
    p.add_argument("--token", action="append", default=[], help="subject word(s) to localise (default: head noun)")
    p.add_argument("--style", default="", help='text before the subject, e.g. "a watercolor painting of"')
    p.add_argument("--story", help="a YAML story file (subject, scenes, tokens, style, seeds, negative_prompt)")
    p.add_argument("--method", default="svd", help="consistency method (default svd; see `svdstory methods`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a method option")
    p.add_argument("--model", help="hub id or local diffusers folder (default: the bundled mini model)")
    p.add_argument("--revision", help="hub revision of --model")
    p.add_argument("--seed", type=int, help="image i uses seed + i (default 0)")
    p.add_argument("--seeds", type=_seed_list, metavar="S1,S2,...", help="one seed per scene (instead of --seed)")
    p.add_argument("--negative-prompt", metavar="TEXT",
                   help="what the images should not show (default: the pipeline's own empty prompt)")
    p.add_argument("--freeu", nargs="?", const=FREEU_RELEASE, type=_freeu, metavar="S1,S2,B1,B2",
                   help="FreeU; with no values ConsiStory's SDXL release's %s" % ",".join(map(str, FREEU_RELEASE)))
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
    p.add_argument("--reference", metavar="PHOTO",
                   help="a photo of the subject: the story's anchor (docs/reference.md)")
    p.add_argument("--reference-prompt", metavar="TEXT",
                   help='the prompt the photo is inverted under (default "a photo of SUBJECT")')
    p.add_argument("--reference-guidance", type=float, metavar="G",
                   help="the guidance the photo is inverted under (default 1: the prompt alone)")
    p.add_argument("--reference-mask", metavar="MASK",
                   help="the subject's mask in the photo, white on the subject: what the photo shares is limited to it")
    p.add_argument("--out", required=True, help="output folder (must not hold a previous run)")
    p.set_defaults(func=cmd_generate)


def _rerun_parser(sub) -> None:
    p = sub.add_parser("rerun", help="generate a run again from its run.json (the same images on the same device)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by svdstory generate")
    p.add_argument("--out", required=True, help="output folder for the new run (must not hold a run)")
    p.add_argument("--device", help="default: the device run.json names")
    p.add_argument("--dtype", help="default: the dtype run.json names")
    p.set_defaults(func=cmd_rerun)


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def _freeu(text: str) -> tuple[float, ...]:
    """Numbers only: SamplingConfig checks that there are four and that they are finite."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected four numbers s1,s2,b1,b2, got {text!r}") from None


def _methods_parser(sub) -> None:
    p = sub.add_parser("methods", help="list the methods and their options")
    p.set_defaults(func=cmd_methods)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="svdstory", description="Training-free consistent subject generation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _generate_parser(sub)
    _rerun_parser(sub)
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
    """The story and the sampling settings a story file names (none without a file)."""
    from .story import Story, read_story_file

    if args.story:
        overrides = {"subject": args.subject, "scenes": args.scene, "tokens": args.token, "style": args.style}
        story, settings = read_story_file(args.story, overrides)
    elif not args.subject:
        raise SvdStoryError("--subject is required (or give --story FILE.yaml)")
    else:
        story, settings = Story(args.subject, tuple(args.scene), tuple(args.token), args.style), {}
    if args.seed is not None and (args.seeds or story.seeds):  # one of the two would be dropped unseen
        given = "--seeds" if args.seeds else f"the seeds of story file {args.story!r}"
        raise SvdStoryError(f"--seed {args.seed} and {given} both set the images' seeds: give one")
    if args.seeds:
        if len(args.seeds) != len(story.scenes):
            raise SvdStoryError(f"--seeds lists {len(args.seeds)} seeds for {len(story.scenes)} scene(s)")
        story = story.with_scenes(story.scenes, args.seeds)
    return story, settings


def cmd_generate(args) -> int:
    from .settings import SamplingConfig

    story, settings = _story_from_args(args)
    negative = args.negative_prompt if args.negative_prompt is not None else settings.get("negative_prompt")
    sampling = SamplingConfig(steps=args.steps, guidance=args.guidance, height=args.height, width=args.width,
                              seed=args.seed or 0, same_latent=args.same_latent, negative_prompt=negative,
                              attention_chunk=args.attention_chunk, freeu=args.freeu)
    run = Run(args.model, args.revision, args.device, args.dtype, story, args.method, args.set, sampling,
              args.anchors_first, args.vae_slicing, args.vae_tiling, reference=_reference_from_args(args, settings))
    return run.execute(Path(args.out), {"command": args.argv})


def _reference_from_args(args, settings: dict):
    """The reference photo the command line or the story file names (the command line wins), or None."""
    from .reference import DEFAULT_PROMPT, Reference

    photo = args.reference or settings.get("reference")
    if photo is None:
        given = (("--reference-prompt", args.reference_prompt), ("--reference-guidance", args.reference_guidance),
                 ("--reference-mask", args.reference_mask))
        for flag, value in given:
            if value is not None:
                raise SvdStoryError(f"{flag} has no effect without --reference")
        return None
    if args.anchors_first:
        raise SvdStoryError("--anchors-first has no effect with --reference: a photo's story is always made against "
                            "its anchor")
    prompt = args.reference_prompt or settings.get("reference_prompt") or DEFAULT_PROMPT
    guidance = 1.0 if args.reference_guidance is None else args.reference_guidance
    return Reference(photo, prompt, guidance, mask=args.reference_mask or settings.get("reference_mask"))


def cmd_rerun(args) -> int:
    """The run of RUN_DIR/run.json again: model, method, config, sampling, story, seeds, anchors-first."""
    run = Run.from_record(Path(args.run_dir))
    if args.device or args.dtype:
        run = dataclasses.replace(run, device=args.device or run.device, dtype=args.dtype or run.dtype)
    return run.execute(Path(args.out), {"command": args.argv, "rerun_of": str(Path(args.run_dir).absolute())})


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything one `generate` needs, checked in order of cost: the inputs, the output folder, what the
    model's files tell without loading it, then the model."""

    model: str | None
    revision: str | None
    device: str | None
    dtype: str | None
    story: object  # Story
    method: str
    options: object  # key=value strings or a dict
    sampling: object  # SamplingConfig
    anchors_first: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    anchor_batch: int | None = None  # anchors-first: images in the anchor batch (None: the method's anchors)
    reference: object = None  # reference.Reference: a photo of the subject as the story's anchor, or None

    def execute(self, out: Path, record: dict) -> int:
        from .generate import run_story_with
        from .methods.registry import get_method
        from .models import default_model_source, load_model, resolve_device, resolve_dtype
        from .output import check_out_dir, check_writable, save_result
        from .preflight import check_backbone, preflight
        from .progress import TerminalBar
        from .resolve import backbone_defaults, make_config, resolve_sampling

        method = get_method(self.method)  # the one lookup of the name in this run
        config = make_config(method, self.options)  # a bad option fails before the model loads
        self.story.image_seeds(self.sampling.seed)  # the last image's seed is in range too
        if self.reference is not None:  # a method that cannot take it, or a photo that cannot be read
            from .reference.anchor import check_takes_reference
            from .reference.photo import read_reference

            check_takes_reference(method)
            read_reference(self.reference)
        check_out_dir(out)
        check_writable(out)
        resolve_dtype(self.dtype, resolve_device(self.device))
        preflight(self.model or default_model_source(), self.revision, self.story, method, self.sampling)
        model = load_model(self.model, self.device, self.dtype, self.revision)
        check_backbone(method, model.backbone.name)
        if backbone_defaults(method, model.backbone):  # FLUX, SD3: defaults of their own under the user's options
            config = make_config(method, self.options, model.backbone)
        if self.vae_slicing:
            model.pipe.vae.enable_slicing()
        if self.vae_tiling:
            model.pipe.vae.enable_tiling()
        bar = TerminalBar(f"{self.method}: {len(self.story.scenes)} images")
        try:
            result = run_story_with(model, self.story, method, config, resolve_sampling(model, self.sampling),
                                    self.anchors_first, bar, self.anchor_batch, self.reference)
        finally:
            bar.close()
        save_result(result, out, {**record, "anchors_first": self.anchors_first, "vae_slicing": self.vae_slicing,
                                  "vae_tiling": self.vae_tiling})
        n = len(result.images)
        print(f"wrote {n} image{'s' if n != 1 else ''} to {out}")
        return 0

    @classmethod
    def from_record(cls, run_dir: Path) -> "Run":
        from .runfile import read_run_file

        if not run_dir.is_dir():
            raise SvdStoryError(f"RUN_DIR {str(run_dir)!r} is not a folder")
        if not (run_dir / "run.json").is_file():
            raise SvdStoryError(f"RUN_DIR {str(run_dir)!r} holds no run.json")
        run = read_run_file(run_dir / "run.json")
        reference = run.reference
        if reference is not None:  # its files are in the run's folder
            mask = None if reference.mask is None else run_dir / reference.mask
            reference = dataclasses.replace(reference, photo=run_dir / reference.photo, mask=mask)
        return cls(run.model, run.revision, run.device, run.dtype, run.story, run.method, run.options, run.sampling,
                   run.anchors_first, run.vae_slicing, run.vae_tiling, run.anchor_batch, reference)


def cmd_methods(args) -> int:
    from .methods.options import as_text, backbones, describe, summary
    from .methods.registry import method_names

    for name in method_names():
        print(f"{name}: {summary(name)}")
        print(f"    runs on: {', '.join(backbones(name))}")
        for opt in describe(name):
            allowed = f"  (one of: {', '.join(opt.choices)})" if opt.choices else ""
            print(f"    {opt.name}={as_text(opt.default)}  [{opt.type}]{allowed}\n        {opt.help}")
    return 0


def _quiet_libraries() -> None:
    """Library chatter (loading bars, retries, deprecation notices about the libraries' own calls) would bury
    svdstory's one-line errors, and a user of the command line can act on none of it."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module=r"(huggingface_hub|diffusers|transformers|accelerate|torch)(\.|$)")


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
