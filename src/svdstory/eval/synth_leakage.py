"""Scene leakage: does an image's background show a scene that another image of the story asked for?
(World v2's background leakage, agreement on hidden background details, is in synth_background.py.)

Sharing attention across a story can copy more than the subject; when image i's background turns
into image j's scene, the background classifier (run with the subject filled in) says so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from svdstory.eval.synth_prompt import label_index
from svdstory.world import SCENES

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
