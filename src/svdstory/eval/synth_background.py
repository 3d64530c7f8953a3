"""World v2 story metrics: do a story's images agree on what the prompts left open in the
background and the layout, and how much of a method's subject mask lies on props?

Attention sharing that copies more than the subject makes the images of a story agree on hidden
background attributes (lighting, landmark, horizon) and layout attributes (placement, size,
facing) more often than independent generation does. Agreement is the mean over image pairs of
the share of attributes whose values agree; its chance level assumes each image draws every
attribute uniformly and independently (the mean of 1 / n_values). Background leakage is a
method's background agreement above vanilla's on the same stories.

Every function takes plain label dicts ({name: value}), so the metrics run on the evaluator's
argmax calls (`called_labels`) and on hand-made stories alike.
"""

from __future__ import annotations

import itertools

import torch

from svdstory.errors import SvdStoryError
from svdstory.world.catalog import BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES


def pairwise_agreement(values: list) -> float:
    """Share of unordered pairs of equal values; 1.0 for fewer than two values (nothing disagrees)."""
    pairs = list(itertools.combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 1.0


def attribute_agreement(labels: list[dict[str, str]], catalogue: dict[str, tuple[str, ...]], prefix: str) -> dict:
    """`<prefix>`: mean over the catalogue's attributes of their pairwise agreement across the
    story's images; `<prefix>_<name>` per attribute; `<prefix>_chance`: the uniform chance level."""
    missing = [(i, name) for i, lab in enumerate(labels) for name in catalogue if name not in lab]
    if missing:
        raise SvdStoryError(f"{prefix}: image {missing[0][0]} has no value for {missing[0][1]!r}")
    per = {f"{prefix}_{name}": pairwise_agreement([lab[name] for lab in labels]) for name in catalogue}
    out = {prefix: sum(per.values()) / len(per), **per}
    out[f"{prefix}_chance"] = sum(1 / len(values) for values in catalogue.values()) / len(catalogue)
    return out


def background_agreement(labels: list[dict[str, str]], catalogue=BACKGROUND_ATTRIBUTES) -> dict:
    return attribute_agreement(labels, catalogue, "background_agreement")


def layout_agreement(labels: list[dict[str, str]], catalogue=LAYOUT_ATTRIBUTES) -> dict:
    return attribute_agreement(labels, catalogue, "layout_agreement")


def called_labels(probabilities: dict[str, torch.Tensor], heads) -> list[dict[str, str]]:
    """Per image {name: argmax value} from the evaluator's {name: (N, n_values)} probabilities and
    its (name, values) head order (EvaluatorConfig.background / .layout)."""
    names = dict(heads)
    if not probabilities:
        return []
    n = len(next(iter(probabilities.values())))
    return [{name: names[name][int(p[i].argmax())] for name, p in probabilities.items()} for i in range(n)]


def background_leakage(method: dict, vanilla: dict, key: str = "background_agreement") -> dict:
    """A method's background agreement above vanilla's, paired over the stories both scored.

    method, vanilla: story id -> story metrics (or directly -> agreement). Returns the mean
    difference with a 95% bootstrap interval over stories, both means and the story count.
    """
    from svdstory.eval.stats import bootstrap_ci

    value = lambda v: v[key] if isinstance(v, dict) else v  # noqa: E731
    shared = sorted(set(method) & set(vanilla))
    if not shared:
        raise SvdStoryError("background_leakage: the method and vanilla share no story")
    diffs = [value(method[s]) - value(vanilla[s]) for s in shared]
    est = bootstrap_ci(diffs)
    return {"background_leakage": est.mean, "ci_low": est.low, "ci_high": est.high, "n_stories": len(shared),
            "method": sum(value(method[s]) for s in shared) / len(shared),
            "vanilla": sum(value(vanilla[s]) for s in shared) / len(shared)}


def mask_share_on_props(subject_masks: torch.Tensor, prop_masks: torch.Tensor, threshold: float = 0.5) -> list[float]:
    """Per image, the share of the (method's) subject mask that falls on props: |subject & props| / |subject|.

    subject_masks (N, H, W) and prop_masks (N, H', W') are probabilities or booleans; the prop masks
    are resized to the subject masks. An empty subject mask gives 0.
    """
    subject = torch.as_tensor(subject_masks).float()
    props = torch.as_tensor(prop_masks).float()
    if subject.ndim != 3 or props.ndim != 3 or len(subject) != len(props):
        raise SvdStoryError(f"masks of shapes {tuple(subject.shape)} and {tuple(props.shape)}: expected (N, H, W) each")
    if props.shape[-2:] != subject.shape[-2:]:
        props = torch.nn.functional.interpolate(props[:, None], size=subject.shape[-2:], mode="bilinear",
                                                align_corners=False)[:, 0]
    s, p = subject > threshold, props > threshold
    return [float((si & pi).sum() / si.sum()) if si.any() else 0.0 for si, pi in zip(s, p)]
