"""What the report needs to know about metric names: direction, and which ones play which role.

Roles: "prompt" (prompt alignment, the scatter's x axis) and "identity" (identity consistency, the
y axis and the default ranking of best/worst stories). The first name of each list that a bench
holds wins; the report's --prompt-metric / --identity-metric options override it.
"""
from __future__ import annotations

BUNDLED_CLIP = "bundled:clip"  # the mini CLIP in svdstory/assets/clip: CLIP-T / CLIP-I on SynthWorld, offline
DEFAULT_CLIP = "openai/clip-vit-large-patch14"  # the feature models behind the real-model metrics (embedders.py)
DEFAULT_DINO = "facebook/dinov2-base"
DEFAULT_DREAMSIM = "ensemble"

# leak_rate / leak_strength: the names scene_leak_rate / scene_leak_strength had before world v2
LOWER_IS_BETTER = frozenset({"dreamsim", "dreamsim_fg", "leak_rate", "leak_strength", "scene_leak_rate",
                             "scene_leak_strength", "background_agreement", "layout_agreement", "mask_on_props"})
ROLES = {
    "prompt": ("prompt_alignment", "clip_t", "clip_t_fg"),
    "identity": ("identity_attr", "dreamsim_fg", "dreamsim", "clip_i_fg", "clip_i", "dino_fg", "dino",
                 "identity_embed"),
}
# mask_auroc / mask_iou (localisation of a method's own subject maps) are higher-is-better, and main so that
# the report's per-category tables show them for animal and object stories
MAIN = ("clip_t", "clip_t_fg", "clip_i", "clip_i_fg", "dino", "dino_fg", "dreamsim", "dreamsim_fg",
        "prompt_alignment", "identity_attr", "identity_embed", "presence", "scene_leak_rate", "leak_rate",
        "background_agreement", "layout_agreement", "mask_on_props", "mask_auroc", "mask_iou")


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def arrow(name: str) -> str:
    return "↑" if higher_is_better(name) else "↓"


def role_metric(role: str, available, override: str | None = None) -> str | None:
    if override:
        return override if override in available else None
    return next((name for name in ROLES[role] if name in available), None)


def main_metrics(available) -> list[str]:
    """The headline metrics a bench holds (all of them if it holds none of the known ones)."""
    chosen = [name for name in MAIN if name in available]
    return chosen or sorted(available)
