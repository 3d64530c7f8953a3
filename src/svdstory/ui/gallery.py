"""A column's images for the page's gallery: captions, and the subject masks laid over them on request."""
from __future__ import annotations

from PIL import Image

# One colour per subject, picked to stand out on SynthWorld's scenes (sand, grass, snow, night).
COLOURS = ((255, 40, 160), (40, 200, 255), (255, 200, 0), (120, 255, 60))


def overlay(image: Image.Image, masks, alpha: float = 0.5) -> Image.Image:
    """The image with each subject's mask tinted in its colour."""
    out = image.convert("RGB")
    for s, mask in enumerate(masks):
        tint = Image.new("RGB", out.size, COLOURS[s % len(COLOURS)])
        out = Image.composite(Image.blend(out, tint, alpha), out, mask.convert("L").resize(out.size))
    return out


def items(result, with_masks: bool = False) -> list[tuple[Image.Image, str]]:
    """(image, caption) per image: its scene (the status line gives the seeds)."""
    scenes = result.info.get("story", {}).get("scenes", [])
    out = []
    for i, image in enumerate(result.images):
        scene = scenes[i] if i < len(scenes) else result.prompts[i]
        if with_masks and result.masks is not None:
            image = overlay(image, result.masks[i])
        out.append((image, scene))
    return out
