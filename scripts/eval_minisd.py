"""Score a mini-SD pipeline with the SynthWorld evaluator: subject/scene accuracy, attribute
faithfulness and identity diversity of plain prompts; optionally save a sample grid.

  python scripts/eval_minisd.py --model src/svdstory/assets/minisd --n 512 --json out/gen.json --grid out/grid.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_common import bare_package  # noqa: E402

bare_package()

from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS, Labels, caption, parse_caption  # noqa: E402
from svdstory.mini.evaluator import Evaluator  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="diffusers pipeline folder")
    p.add_argument("--evaluator", type=Path, default=None, help="evaluator folder (default: bundled)")
    p.add_argument("--n", type=int, default=512, help="images per prompt family")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, nargs="+", default=[5.0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--grid", type=Path, default=None, help="PNG of the first 32 plain-prompt images")
    return p.parse_args(argv)


def prompts(n: int, seed: int, attribute_rate: float) -> list[str]:
    """World-style captions of random labels; attribute_rate 0 gives plain prompts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        subject = list(SUBJECTS)[rng.integers(len(SUBJECTS))]
        attrs = {k: v[rng.integers(len(v))] for k, v in ATTRIBUTES.items()}
        labels = Labels(subject, SUBJECTS[subject], attrs, SCENES[rng.integers(len(SCENES))], {"x": 0.5, "y": 0.5, "scale": 1.0})
        out.append(caption(labels, rng, attribute_rate=attribute_rate))
    return out


def generate(pipe, texts: list[str], args, guidance: float) -> torch.Tensor:
    images = []
    for i in range(0, len(texts), args.batch):
        g = torch.Generator(pipe.device).manual_seed(args.seed + i)
        out = pipe(texts[i:i + args.batch], num_inference_steps=args.steps, guidance_scale=guidance, generator=g,
                   output_type="pt")
        images.append(out.images.float().cpu())
    return torch.cat(images)


def accuracy(pred, texts: list[str]) -> dict:
    """Fraction of images whose predicted class matches what the prompt names."""
    parsed = [parse_caption(t) for t in texts]
    subj = [list(SUBJECTS).index(p["subject"]) for p in parsed]
    scene = [SCENES.index(p["scene"]) for p in parsed]
    out = dict(subject=float((pred.subject.argmax(1) == torch.tensor(subj)).float().mean()),
               scene=float((pred.scene.argmax(1) == torch.tensor(scene)).float().mean()))
    hits, total = 0, 0
    for i, p in enumerate(parsed):
        for name, value in (p.get("attributes") or {}).items():
            hits += int(pred.attributes[name][i].argmax() == ATTRIBUTES[name].index(value))
            total += 1
    if total:
        out["named_attributes"] = hits / total
    return out


def diversity(pred) -> dict:
    """Normalised entropy of each predicted attribute over plain prompts (1 = uniform, 0 = fixed);
    with a world v2 evaluator also of every background and layout attribute (keys background_<name>,
    layout_<name>) and the share of images with a prop of any class (props_any)."""
    out = {}
    heads = {**pred.attributes, **{f"background_{k}": v for k, v in pred.background.items()},
             **{f"layout_{k}": v for k, v in pred.layout.items()}}
    if pred.props is not None:
        out["props_any"] = float((pred.props > 0.5).any(1).float().mean())
    for name, probs in heads.items():
        counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float()
        p = counts / counts.sum()
        out[name] = float(-(p[p > 0] * p[p > 0].log()).sum() / math.log(probs.shape[1]))
    return out


def value_shares(pred, cfg) -> dict:
    """Share of plain-prompt images the evaluator gives each value of every background and layout attribute
    (which values a collapse under-produces); `cfg`: the evaluator's config, which names the values."""
    out = {}
    for heads, named in ((pred.background, cfg.background), (pred.layout, cfg.layout)):
        for name, values in named:
            counts = torch.bincount(heads[name].argmax(1), minlength=len(values)).float()
            out[name] = {value: round(float(c / counts.sum()), 4) for value, c in zip(values, counts)}
    return out


def save_grid(images: torch.Tensor, path: Path, cols: int = 8) -> None:
    from PIL import Image

    rows = math.ceil(len(images) / cols)
    h, w = images.shape[-2:]
    canvas = torch.ones(3, rows * h, cols * w)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        canvas[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    array = (canvas.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).quantize(256).save(path, optimize=True)  # palette PNG: grids stay small


def main(argv=None) -> None:
    from diffusers import StableDiffusionPipeline

    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pipe = StableDiffusionPipeline.from_pretrained(str(args.model), local_files_only=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    evaluator = Evaluator.load(args.evaluator, device=device)
    plain, named = prompts(args.n, args.seed, 0.0), prompts(args.n, args.seed + 1, 1.0)
    report = {}
    for guidance in args.guidance:
        t0 = time.monotonic()
        plain_images, named_images = generate(pipe, plain, args, guidance), generate(pipe, named, args, guidance)
        p_plain, p_named = evaluator.predict(plain_images), evaluator.predict(named_images)
        report[f"cfg{guidance}"] = dict(plain=accuracy(p_plain, plain), named=accuracy(p_named, named),
                                        plain_attribute_entropy=diversity(p_plain),
                                        plain_value_shares=value_shares(p_plain, evaluator.cfg), seconds=round(time.monotonic() - t0, 1))
        print(json.dumps({f"cfg{guidance}": report[f"cfg{guidance}"]}), flush=True)
        if args.grid is not None and guidance == args.guidance[0]:
            save_grid(torch.cat([plain_images[:16], named_images[:16]]), args.grid)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(n=args.n, steps=args.steps, results=report), indent=1))


if __name__ == "__main__":
    main()
