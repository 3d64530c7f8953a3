"""SynthWorld story metrics from the evaluator's predictions: prompt checks, identity consistency,
scene leakage, (world v2) agreement on what the prompts left open, and how well a method's own subject
maps locate the subject. Every function is pure: tensors or plain label dicts in, numbers out;
`scorer.py` runs them on a story. docs/metrics.md defines them.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from svdstory.errors import SvdStoryError
from svdstory.masks import binarize
from svdstory.world import SCENES, SUBJECTS
from svdstory.world.catalog import BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES


# Per-image prompt checks: is the prompted subject class there (and big enough), is the scene right.

MIN_AREA = 0.03       # fraction of the image the predicted subject mask must cover to count as present
MIN_SUBJECT_PROB = 0.5  # probability of the prompted class needed to count as present


def label_index(kind: str, value: str, order) -> int:
    order = list(order)
    if value not in order:
        raise SvdStoryError(f"unknown {kind} {value!r} in the story truth; expected one of: {', '.join(order)}")
    return order.index(value)


def alignment_rows(predictions, subject: str, scenes: list[str], subjects=tuple(SUBJECTS),
                   scene_order=SCENES) -> list[dict]:
    """subject_ok, scene_ok and their mean prompt_alignment for each image (1.0 / 0.0 per check)."""
    s = label_index("subject", subject, subjects)
    truth_scenes = torch.tensor([label_index("scene", scene, scene_order) for scene in scenes])
    subject_ok = (predictions.subject.argmax(-1) == s).float()
    scene_ok = (predictions.scene.argmax(-1) == truth_scenes).float()
    return [{"subject_ok": float(a), "scene_ok": float(b), "prompt_alignment": float(a + b) / 2}
            for a, b in zip(subject_ok, scene_ok)]


def presence_rows(predictions, subject: str, subjects=tuple(SUBJECTS), min_area: float = MIN_AREA,
                  min_prob: float = MIN_SUBJECT_PROB) -> list[dict]:
    """present = the mask (> 0.5) covers at least `min_area` of the image and P(prompted class) >= `min_prob`."""
    s = label_index("subject", subject, subjects)
    area = (predictions.mask > 0.5).float().mean((1, 2))  # (N,)
    prob = predictions.subject[:, s]
    present = (area >= min_area) & (prob >= min_prob)
    return [{"present": float(p), "mask_area": float(a), "subject_prob": float(q)}
            for p, a, q in zip(present, area, prob)]


# Identity consistency across a story's images: hidden attributes that agree, and pooled embeddings
# that point the same way.

def _pairs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.triu_indices(n, n, offset=1)


def hidden_attribute_agreement(attributes: dict[str, torch.Tensor]) -> dict[str, float]:
    """name -> fraction of image pairs (i < j) whose argmax value of that attribute is the same.

    A story of one image has no pair to disagree, so it scores 1.
    """
    agreement = {}
    for name, probs in attributes.items():  # probs (N, n_values)
        values = probs.argmax(-1)
        i, j = _pairs(len(values))
        agreement[name] = float((values[i] == values[j]).double().mean()) if len(i) else 1.0
    return agreement


def attribute_chance(attributes: dict[str, torch.Tensor]) -> float:
    """Pair agreement expected if every attribute were drawn uniformly and independently per image."""
    return float(sum(1.0 / probs.shape[-1] for probs in attributes.values()) / len(attributes))


def pooled_embedding(embedding: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, E) unit vectors: the (N, E, h, w) embedding averaged with weights from the (N, H, W) mask.

    The mask is area-averaged down to (h, w), so a subject smaller than one embedding cell still
    weighs in; an image with an empty mask pools to the zero vector (cosine 0 with everything).
    """
    weight = F.adaptive_avg_pool2d(mask.float().unsqueeze(1), embedding.shape[-2:])  # (N, 1, h, w)
    pooled = (embedding * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-8)  # (N, E)
    return F.normalize(pooled, dim=1, eps=1e-8)


def embedding_consistency(embedding: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean cosine over image pairs of the subject-pooled embeddings, in [-1, 1]; 1 for a single image."""
    pooled = pooled_embedding(embedding, mask)
    i, j = _pairs(len(pooled))
    if not len(i):
        return 1.0
    return float((pooled[i] * pooled[j]).sum(-1).mean())


def identity_metrics(predictions) -> dict[str, float]:
    """identity_attr (+ one per attribute), its chance level, and identity_embed of a story's predictions."""
    agreement = hidden_attribute_agreement(predictions.attributes)
    metrics = {"identity_attr": sum(agreement.values()) / len(agreement)}
    metrics.update({f"identity_attr_{name}": value for name, value in agreement.items()})
    metrics["identity_attr_chance"] = attribute_chance(predictions.attributes)
    metrics["identity_embed"] = embedding_consistency(predictions.embedding, predictions.mask)
    return metrics


# Scene leakage: does an image's background show a scene that another image of the story asked for?
# Sharing attention across a story can copy more than the subject; when image i's background turns
# into image j's scene, the background classifier (run with the subject filled in) says so.

MASK_THRESHOLD = 0.5
MASK_GROW = 1  # pixels; the evaluator grows the region again, this covers a soft predicted rim


def background_masks(mask: torch.Tensor, threshold: float = MASK_THRESHOLD, grow: int = MASK_GROW) -> torch.Tensor:
    """(N, H, W) bool subject regions to hide: the predicted mask thresholded, then dilated by `grow` pixels."""
    region = (mask > threshold).float().unsqueeze(1)  # (N, 1, H, W)
    if grow:
        region = F.max_pool2d(region, 2 * grow + 1, stride=1, padding=grow)
    return region[:, 0] > 0.5


def leakage_rows(background: torch.Tensor, scenes: list[str], scene_order=SCENES) -> list[dict]:
    """Per image, from (N, n_scenes) background-only scene probabilities and the truth scene of each image:

    scene_leak = 1 if the background's argmax is another image's scene; scene_leak_strength = the
    probability mass on the other images' scenes; bg_scene_ok = 1 if the argmax is the image's own scene.
    """
    truth = [label_index("scene", scene, scene_order) for scene in scenes]
    rows = []
    for i, probs in enumerate(background):
        others = sorted({s for s in truth if s != truth[i]})
        top = int(probs.argmax())
        rows.append({"scene_leak": float(top in others),
                     "scene_leak_strength": float(probs[others].sum()) if others else 0.0,
                     "bg_scene_ok": float(top == truth[i])})
    return rows


# World v2: do a story's images agree on what the prompts left open in the background (lighting,
# landmark, horizon) and the layout (placement, size, facing), and how much of a method's subject mask
# lies on props? Attention sharing that copies more than the subject raises agreement above vanilla's;
# chance assumes each image draws every attribute uniformly and independently (the mean of
# 1 / n_values). These take plain label dicts ({name: value}), so they run on the evaluator's argmax
# calls (`called_labels`) and on hand-made stories alike.

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
    from svdstory.eval.report.stats import bootstrap_ci

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


# Localisation: does the method's own subject map (ConsiStory's cross-attention maps, aggregated over
# layers and recent steps) lie where the evaluator sees the subject? AUROC grades how the soft map ranks
# pixels, IoU the Otsu mask the method thresholds it to. Both are taken on the evaluator mask's grid with
# the map nearest-upsampled onto it: the evaluator's mask stays as predicted (downsampling it would
# re-threshold area shares), and the map stays the method's own (each cell scores the pixels it covers,
# its ties resolved by average ranks; bilinear would grade a smoother map than the method has). The
# method's saved masks are upsampled the same way (generate.py), so mask_iou grades exactly those.

def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Area under the ROC curve of `scores` ranking the True `labels` above the False ones, exactly:
    the Mann-Whitney U over n_pos * n_neg, tied scores sharing their average rank (a tied pair counts 1/2).
    None when either class is empty."""
    scores, labels = scores.reshape(-1).double(), labels.reshape(-1).bool()
    n_pos = int(labels.sum())
    n_neg = labels.numel() - n_pos
    if not n_pos or not n_neg:
        return None
    ordered, order = scores.sort()
    _, counts = torch.unique_consecutive(ordered, return_counts=True)
    average = counts.cumsum(0).double() - (counts.double() - 1) / 2  # 1-based mean rank of each tie group
    ranks = torch.empty_like(scores)
    ranks[order] = average.repeat_interleave(counts)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """|a & b| / |a | b| of two bool masks of one shape; None when both are empty."""
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else None


def localisation_rows(maps: torch.Tensor, subject_mask: torch.Tensor, threshold: float = MASK_THRESHOLD) -> list[dict]:
    """Per image, mask_auroc and mask_iou of the method's soft subject maps (N, h, w) against the
    evaluator's subject mask (N, H, W) > `threshold`, on the (H, W) grid (see above).

    mask_auroc: the map's AUROC, None where the evaluator's mask is empty or full. mask_iou: the IoU of
    the map's Otsu mask (`masks.binarize` at the map's own grid, as the method thresholds it), None
    where both masks are empty."""
    maps, truth = torch.as_tensor(maps).float(), torch.as_tensor(subject_mask).float() > threshold
    if maps.ndim != 3 or truth.ndim != 3 or len(maps) != len(truth):
        raise SvdStoryError(f"maps of shape {tuple(maps.shape)} and masks of shape {tuple(truth.shape)}: "
                            "expected (N, h, w) and (N, H, W)")
    up = lambda m: F.interpolate(m[:, None], size=truth.shape[-2:], mode="nearest")[:, 0]  # noqa: E731
    soft, otsu = up(maps), up(binarize(maps).float()) > 0.5  # (N, H, W) each
    return [{"mask_auroc": auroc(s, t), "mask_iou": mask_iou(o, t)} for s, o, t in zip(soft, otsu, truth)]


def defined_mean(values) -> float | None:
    """The mean of the values that are not None, or None if there are none."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
