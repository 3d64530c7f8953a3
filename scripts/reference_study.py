"""A story from a photo, measured exactly on world v2 (issue 27): render a subject with known attributes in one
scene as the "photo", ask for four other scenes, and score every image against the photo with the bundled
evaluator, for each method that takes a reference beside the same stories from text alone.

Per image (then per story, its mean over the four images):
- id_attr: the share of the subject's hidden identity attributes (colour, pattern, accessory, eyes) the
  evaluator reads off the image that equal the photo's true ones (the world drew them; chance is about 0.2);
- id_embed: cosine of the image's subject-pooled identity embedding with the photo's;
- prompt_alignment: the mean of subject_ok and scene_ok (the evaluator's class and scene are the prompted ones);
- bg_agreement: the share of the photo's true background attributes (lighting, landmark, horizon) the image's
  background is read to have: a method that copies the photo's background scores high (a leak);
- bg_is_photo_scene: the image's background alone (subject filled in) is classified as the photo's scene.

Stories: families alternate (animal, object), subject and five distinct scenes from synthworld_suite_v2; the
photo is world.sample(seed, subject, first scene). Every run is cached in OUT/runs/<story>/<run>/ (the run folder
the command line writes), so the same command resumes. OUT/results.json, OUT/summary.md and OUT/grid_<story>.png
(photo first, one row per run) come last.

  python scripts/reference_study.py --out runs/reference --stories 8 --steps 25
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from svdstory import SamplingConfig, Story, generate, load_model
from svdstory.eval.report.stats import bootstrap_ci
from svdstory.eval.synthworld.metrics import alignment_rows, background_masks, pooled_embedding
from svdstory.eval.synthworld.suite import scene_phrase, subject_phrase, synthworld_suite_v2
from svdstory.mini.evaluator import Evaluator
from svdstory.output import image_grid, save_result
from svdstory.reference import Reference
from svdstory.world import SCENES, sample
from svdstory.world.catalog import ATTRIBUTES, BACKGROUND_ATTRIBUTES

TAKES_REFERENCE = ("consistory", "shared", "svd", "storydiffusion")
METRICS = ("id_attr", "id_embed", "prompt_alignment", "bg_agreement", "bg_is_photo_scene")


def stories(n: int, seed: int) -> list[dict]:
    """n stories of five distinct scenes: the photo's, then the four asked for."""
    return synthworld_suite_v2(n, seed, scenes_per_story=5, repeat_share=0.0)


def photo_of(story: dict, size: int):
    """(PIL image, labels): the story's subject in its first scene, drawn from the story's first seed."""
    truth = story["truth"]
    drawn = sample(story["seeds"][0], subject=truth["subject"], scene=truth["scenes"][0], size=size)
    return Image.fromarray(drawn.image), drawn.labels


def runs_of(methods) -> list[tuple[str, str, bool]]:
    """(run name, method, from the photo): vanilla from text, then each method from text and from the photo."""
    return [("vanilla", "vanilla", False)] + [(f"{m}{suffix}", m, photo) for m in methods
                                              for suffix, photo in (("", False), ("+photo", True))]


def make_run(model, story: dict, method: str, photo, sampling, folder: Path) -> list:
    """The run's images, from its folder when an earlier call wrote it."""
    if not (folder / "run.json").is_file():
        told = Story(story["subject"], tuple(story["scenes"][1:]), tuple(story["tokens"]), story["style"],
                     tuple(story["seeds"][1:]))
        options = {"scheduler": "ddim"} if method == "vanilla" else None  # the sharing methods' sampler
        result = generate(model, told, method, options, sampling, reference=photo and Reference(photo))
        save_result(result, folder)
    return [Image.open(folder / f"image_{i:02d}.png").convert("RGB") for i in range(4)]


def score(evaluator, photo, labels, images, scenes: list[str], subject: str) -> list[dict]:
    """One row per image: each metric of the module's docstring against the photo."""
    predictions = evaluator.predict([photo] + images)
    called = {name: probs.argmax(-1) for name, probs in predictions.attributes.items()}
    truth = {name: ATTRIBUTES[name].index(labels.attributes[name]) for name in called}
    pooled = pooled_embedding(predictions.embedding, predictions.mask)  # (1 + n, E)
    heads = dict(evaluator.cfg.background)
    bg_called = {name: probs.argmax(-1) for name, probs in predictions.background.items()}
    bg_truth = {name: list(heads[name]).index(labels.background[name]) for name in bg_called}
    background = evaluator.predict_background([photo] + images, background_masks(predictions.mask))
    aligned = alignment_rows(_drop_first(predictions), subject, scenes)
    rows = []
    for i in range(1, len(images) + 1):
        rows.append({
            "id_attr": float(np.mean([int(called[n][i]) == truth[n] for n in called])),
            "id_embed": float((pooled[0] * pooled[i]).sum()),
            "prompt_alignment": aligned[i - 1]["prompt_alignment"],
            "bg_agreement": float(np.mean([int(bg_called[n][i]) == bg_truth[n] for n in bg_called])),
            "bg_is_photo_scene": float(int(background[i].argmax()) == SCENES.index(labels.scene)),
        })
    return rows


def _drop_first(predictions):
    """The predictions without the photo's row (alignment_rows reads subject and scene)."""
    from dataclasses import replace

    return replace(predictions, subject=predictions.subject[1:], scene=predictions.scene[1:])


def summarise(results: dict, names: list[str]) -> str:
    """A markdown table: each run's mean over stories and its 95% bootstrap interval, per metric."""
    lines = ["| run | " + " | ".join(METRICS) + " |", "| --- |" + " --- |" * len(METRICS)]
    for name in names:
        cells = []
        for metric in METRICS:
            per_story = [np.mean([row[metric] for row in rows[name]]) for rows in results.values()]
            e = bootstrap_ci(per_story)
            cells.append(f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{len(results)} stories, 4 images each; [95% bootstrap interval over stories]\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--stories", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="the suite's seed")
    p.add_argument("--limit", type=int, help="only the first LIMIT of those stories (the suite stays the same)")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--methods", default=",".join(TAKES_REFERENCE))
    p.add_argument("--model", help="default: the bundled mini model")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    model = load_model(args.model, args.device, "float32")
    evaluator = Evaluator.load(device=args.device)
    size = model.backbone.side
    sampling = SamplingConfig(steps=args.steps, height=size, width=size)
    named = runs_of([m for m in args.methods.split(",") if m])
    results = {}
    for story in stories(args.stories, args.seed)[:args.limit]:
        photo, labels = photo_of(story, size)
        truth = story["truth"]
        rows, grid = {}, []
        for name, method, from_photo in named:
            images = make_run(model, story, method, photo if from_photo else None, sampling,
                              args.out / "runs" / story["id"] / name)
            rows[name] = score(evaluator, photo, labels, images, truth["scenes"][1:], truth["subject"])
            grid.append(image_grid([photo] + images))
            print(story["id"], name, {k: round(float(np.mean([r[k] for r in rows[name]])), 3) for k in METRICS},
                  flush=True)
        results[story["id"]] = rows
        image_grid(grid, 1).save(args.out / f"grid_{story['id']}.png")
    summary = summarise(results, [name for name, _, _ in named])
    (args.out / "results.json").write_text(json.dumps({"steps": args.steps, "stories": results}, indent=1) + "\n")
    (args.out / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    raise SystemExit(main())
