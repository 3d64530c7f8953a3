"""Why plain prompts under-produce some lightings: the same plain prompts under three samplings.

- `white`: the stock pipeline (white start noise, guidance G);
- `no_cfg`: guidance 1 (does classifier-free guidance pick the lighting?);
- `offset`: start noise with the low-frequency part the UNet trained on (`train_minisd.training_noise`,
  strength S: does the lighting follow the start noise's coarse mean?).

Each row: the share of images the evaluator gives each lighting value, and the normalised entropy.

    python scripts/lighting_probe.py --model DIR --evaluator DIR --n 256 [--device cuda] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def shares(evaluator, images, name: str = "lighting") -> dict:
    pred = evaluator.predict(images)
    values = dict(evaluator.cfg.background)[name]
    counts = torch.bincount(pred.background[name].argmax(1), minlength=len(values)).float()
    p = counts / counts.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum() / math.log(len(values)))
    return {"shares": {v: round(float(x), 3) for v, x in zip(values, p)}, "entropy": round(entropy, 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--evaluator", required=True)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--strength", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from eval_minisd import prompts
    from train_minisd import low_frequency_noise

    from svdstory.mini.evaluator import Evaluator

    pipe = StableDiffusionPipeline.from_pretrained(args.model).to(args.device)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    evaluator = Evaluator.load(args.evaluator, device=args.device)
    texts = prompts(args.n, 0, 0.0)
    side = pipe.unet.config.sample_size
    report = {}
    for name, guidance, strength in (("white", args.guidance, 0.0), ("no_cfg", 1.0, 0.0),
                                     ("offset", args.guidance, args.strength)):
        images = []
        for i in range(0, len(texts), args.batch):
            gen = torch.Generator(args.device).manual_seed(i)
            chunk = texts[i:i + args.batch]
            shape = (len(chunk), pipe.unet.config.in_channels, side, side)
            latents = torch.randn(shape, generator=gen, device=args.device)
            if strength:
                torch.manual_seed(i)
                latents = latents + low_frequency_noise(latents, strength)
            out = pipe(chunk, num_inference_steps=args.steps, guidance_scale=guidance, latents=latents,
                       output_type="pt")
            images.append(out.images.float().cpu())
        report[name] = shares(evaluator, torch.cat(images))
        print(name, json.dumps(report[name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
