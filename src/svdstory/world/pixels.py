"""Canvases hold one packed uint32 per pixel (bytes R, G, B, 0): painting a shape then writes one
word per pixel instead of three strided bytes, which is several times faster in numpy."""

from __future__ import annotations

import numpy as np

PACKED = np.dtype("<u4")


def pack(colour) -> np.uint32:
    """(r, g, b) -> packed word; an already packed word passes through."""
    if isinstance(colour, (np.integer, int)):
        return PACKED.type(colour)
    r, g, b = (int(c) for c in colour)
    return PACKED.type(r | (g << 8) | (b << 16))


def unpack(canvas: np.ndarray) -> np.ndarray:
    """(H, W) packed canvas -> (H, W, 3) uint8 image."""
    channels = canvas.view(np.uint8).reshape(canvas.shape + (4,))
    out = np.empty(canvas.shape + (3,), dtype=np.uint8)
    for ch in range(3):  # per channel: much faster than one strided (H, W, 3) copy
        out[..., ch] = channels[..., ch]
    return out


def blank(size: int) -> np.ndarray:
    return np.zeros((size, size), dtype=PACKED)
