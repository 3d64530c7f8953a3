"""`--metrics`: which scorers a bench runs, with which feature models; validated before any model loads."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SvdStoryError
from .feature_scorer import FAMILY, split_metric
from .metric_info import DEFAULT_CLIP, DEFAULT_DINO, DEFAULT_DREAMSIM

SYNTHWORLD = "synthworld"
AUTO_REAL = ("clip-t", "clip-i", "dino")  # no optional extras needed; add dreamsim by name


@dataclass(frozen=True)
class MetricConfig:
    metrics: tuple[str, ...]  # e.g. ("clip-t", "clip-i", "dreamsim-fg") or ("synthworld",)
    clip_model: str = DEFAULT_CLIP  # transformers id/folder, or open_clip:ARCH[@PRETRAINED]
    dino_model: str = DEFAULT_DINO  # transformers id/folder
    dreamsim_model: str = DEFAULT_DREAMSIM  # dreamsim type[@cache folder]
    segmenter: str | None = None  # transformers image-segmentation id/folder for the -fg metrics
    evaluator: str | None = None  # SynthWorld evaluator folder for the synthworld metrics; None: the bundled one

    def families(self) -> set[str]:
        return {FAMILY[split_metric(m)[0]] for m in self.metrics if m != SYNTHWORLD}

    def describe(self) -> dict:
        """What the numbers depend on: the metric names and only the models they use."""
        families = self.families()
        out = {"metrics": list(self.metrics)}
        for family, source in (("clip", self.clip_model), ("dino", self.dino_model), ("dreamsim", self.dreamsim_model)):
            if family in families:
                out[f"{family}_model"] = source
        if self.evaluator and SYNTHWORLD in self.metrics:  # only when named: older folders keep their fingerprint
            out["evaluator"] = self.evaluator
        if any(split_metric(m)[1] for m in self.metrics):
            out["fg_masks"] = f"segmenter:{self.segmenter}" if self.segmenter else "method"
        return out


def parse_metrics(text: str, synthworld_suite: bool) -> tuple[str, ...]:
    """`auto` (synthworld for the SynthWorld suite, else CLIP-T, CLIP-I and DINO), `none`, or a list."""
    text = (text or "auto").strip()
    if text == "auto":
        return (SYNTHWORLD,) if synthworld_suite else AUTO_REAL
    if text == "none":
        return ()
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name != SYNTHWORLD and split_metric(name)[0] not in FAMILY:
            known = ", ".join([*FAMILY, SYNTHWORLD])
            raise SvdStoryError(f"--metrics: unknown metric {name!r} (known: {known}; add -fg for background removed)")
    if len(set(names)) != len(names):
        raise SvdStoryError(f"--metrics {text!r} names a metric twice")
    return tuple(names)


def build_scorers(config: MetricConfig, device: str = "cpu") -> list:
    """Load the feature models once per process; returns objects with the scorer protocol."""
    scorers = []
    if SYNTHWORLD in config.metrics:
        try:
            from .synthworld import SynthWorldScorer
        except ImportError as err:
            raise SvdStoryError("--metrics synthworld needs svdstory.eval.synthworld, "
                                f"which failed to import ({err})") from None
        evaluator = None
        if config.evaluator:
            from svdstory.mini.evaluator import Evaluator

            evaluator = Evaluator.load(config.evaluator, device=device)
        scorers.append(SynthWorldScorer(evaluator, device=device))
    features = tuple(m for m in config.metrics if m != SYNTHWORLD)
    if features:
        scorers.append(_feature_scorer(config, features, device))
    return scorers


def _feature_scorer(config: MetricConfig, features, device: str):
    from .embedders import DreamSim, load_clip, load_dino
    from .feature_scorer import FeatureScorer

    loaders = {"clip": lambda: load_clip(config.clip_model, device),
               "dino": lambda: load_dino(config.dino_model, device),
               "dreamsim": lambda: DreamSim(config.dreamsim_model, device)}
    embedders = {family: loaders[family]() for family in sorted(config.families())}
    segmenter = None
    if config.segmenter and any(split_metric(m)[1] for m in features):
        from .segment import Segmenter

        segmenter = Segmenter(config.segmenter, device)
    return FeatureScorer(features, embedders, segmenter)
