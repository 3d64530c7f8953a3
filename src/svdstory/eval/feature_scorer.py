"""The real-model scorer: CLIP-T, and CLIP-I / DINO / DreamSim over the image pairs of a story.

Metric names: `clip-t` (each image against its own prompt), `clip-i`, `dino` (mean cosine over image
pairs, higher = more alike), `dreamsim` (mean DreamSim distance 1 - cosine over pairs, lower = more
alike). A `-fg` suffix scores background-removed images: subject masks from the segmenter if one is
given (the same masks for every method), else the method's own masks; with neither the value is None.
Per-image rows carry the image's share: its CLIP-T, or its mean similarity to the story's other images.
"""
from __future__ import annotations

from ..story import compose_prompt
from .masking import FILL, foreground_images
from .similarity import mean_to_others, pairwise_mean, paired_cosine

FAMILY = {"clip-t": "clip", "clip-i": "clip", "dino": "dino", "dreamsim": "dreamsim"}


def split_metric(name: str) -> tuple[str, bool]:
    """`dino-fg` -> ("dino", True)."""
    base = name.removesuffix("-fg")
    return base, base != name


def metric_key(name: str) -> str:
    """The column name of a metric: `clip-i-fg` -> `clip_i_fg`."""
    return name.replace("-", "_")


class FeatureScorer:
    """Scorer protocol: score(story item, images, masks, maps) -> (per-image rows, story metrics)."""

    name = "features"

    def __init__(self, metrics, embedders: dict, segmenter=None, fill=FILL):
        self.metrics = tuple(metrics)
        self.embedders = embedders  # family ("clip", "dino", "dreamsim") -> embedder
        self.segmenter = segmenter  # callable(images, tokens) -> masks, or None for the method's masks
        self.fill = fill

    def score(self, story: dict, images: list, masks=None, maps=None) -> tuple[list[dict], dict]:
        """`masks` (the method's, per image a list per subject) make the -fg views without a segmenter;
        the soft `maps` are not used."""
        views = {False: list(images), True: self._foreground(story, images, masks)}
        cache: dict = {}

        def embed(family: str, fg: bool):
            if (family, fg) not in cache:
                cache[family, fg] = self.embedders[family].images(views[fg])
            return cache[family, fg]

        rows = [{"image": i} for i in range(len(images))]
        metrics = {}
        for name in self.metrics:
            base, fg = split_metric(name)
            key = metric_key(name)
            if views[fg] is None:
                per, value = [None] * len(images), None
            else:
                per, value = self._one(base, embed(FAMILY[base], fg), story)
            metrics[key] = value
            for row, v in zip(rows, per):
                row[key] = v
        return rows, metrics

    def _one(self, base: str, feats, story: dict) -> tuple[list, float]:
        if base == "clip-t":
            prompts = [compose_prompt(story.get("style", ""), story["subject"], s) for s in story["scenes"]]
            per = paired_cosine(feats, self.embedders["clip"].texts(prompts))
            return [float(v) for v in per], float(per.mean())
        per, value = mean_to_others(feats), pairwise_mean(feats)
        if base == "dreamsim":  # a distance, as the DreamSim paper reports it
            per, value = 1.0 - per, 1.0 - value
        return [float(v) for v in per], value

    def _foreground(self, story: dict, images, masks):
        if not any(split_metric(m)[1] for m in self.metrics):
            return None
        if self.segmenter is not None:
            masks = self.segmenter(images, story.get("tokens") or [story["subject"]])
        return None if masks is None else foreground_images(images, masks, self.fill)
