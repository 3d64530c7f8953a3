"""Background removal for the foreground (`-fg`) metrics: subject pixels kept, the rest filled flat."""
from __future__ import annotations

import numpy as np

FILL = (255, 255, 255)  # white, so that every method's background reads as the same empty scene


def _as_image(mask):
    """PIL "L"/"1", a bool array, or a 0-255 array -> PIL "L"."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        return mask.convert("L")
    arr = np.asarray(mask)
    arr = arr.astype(np.uint8) * 255 if arr.dtype == bool else arr.astype(np.uint8)
    return Image.fromarray(arr, mode="L")


def union_mask(masks, size: tuple[int, int]) -> np.ndarray:
    """Subject masks of one image (any size) -> one (H, W) bool mask at `size` = (W, H)."""
    from PIL import Image

    out = np.zeros((size[1], size[0]), dtype=bool)
    for mask in masks:
        img = _as_image(mask)
        if img.size != size:
            img = img.resize(size, Image.NEAREST)  # a mask stays binary under nearest resampling
        out |= np.asarray(img) >= 128
    return out


def remove_background(image, mask: np.ndarray, fill=FILL):
    """`image` with every pixel outside the (H, W) bool `mask` set to `fill`.

    An empty mask leaves the image whole: filling it would turn every subject-less image into the
    same flat picture, which identity metrics would score as perfectly consistent."""
    from PIL import Image

    pixels = np.asarray(image.convert("RGB")).copy()
    if mask.any():
        pixels[~mask] = np.asarray(fill, dtype=np.uint8)
    return Image.fromarray(pixels)


def foreground_images(images, masks, fill=FILL) -> list:
    """masks[i]: the subject masks of image i (a list, one per subject)."""
    if len(masks) != len(images):
        raise ValueError(f"{len(masks)} mask sets for {len(images)} images")
    return [remove_background(img, union_mask(m, img.size), fill) for img, m in zip(images, masks)]
