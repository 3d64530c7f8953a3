"""Per-image prompt checks: is the prompted subject class there (and big enough), is the scene right."""

from __future__ import annotations

import torch

from svdstory.errors import SvdStoryError
from svdstory.world import SCENES, SUBJECTS

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
