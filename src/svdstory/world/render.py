"""Rendering labels to pixels: the scene background, then the subject layer on top of it."""

from __future__ import annotations

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world.background import draw_landmark, light, line_height
from svdstory.world.labels import Labels, check_choice, pose_of, view_of
from svdstory.world.layout import subject_frame
from svdstory.world.pen import Pen
from svdstory.world.pixels import unpack
from svdstory.world.props import draw_props, prop_pens
from svdstory.world.scenes import PAINTERS
from svdstory.world.seeds import stream
from svdstory.world.subject import draw_subject


def check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 64 or size % 16:
        raise SvdStoryError(f"image size must be a multiple of 16 and at least 64, got {size!r}")


def _subject_layer(labels: Labels, size: int) -> Pen:
    check_size(size)
    frame = subject_frame(labels.subject, labels.layout, size, labels.world)
    return draw_subject(size, frame, labels.subject, labels.attributes, pose_of(labels.layout), labels.world,
                        view_of(labels.layout))


def _scene_canvas(scene: str, size: int, seed: int) -> np.ndarray:
    check_size(size)
    check_choice("scene", scene, PAINTERS)
    return PAINTERS[scene](stream(seed, "backdrop"), size)


def render_subject(labels: Labels, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The subject alone: (uint8 (H, W, 3) colours, black off the subject; bool (H, W) mask)."""
    pen = _subject_layer(labels, size)
    return unpack(pen.canvas), pen.mask


def render_scene(scene: str, size: int = 128, seed: int = 0) -> np.ndarray:
    """The empty scene: uint8 (H, W, 3); its details are drawn from `seed`."""
    return unpack(_scene_canvas(scene, size, seed))


def render(labels: Labels, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask): the scene of `labels` drawn from `seed`, with the subject drawn over it."""
    image, mask, _ = render_layers(labels, size, seed)
    return image, mask


def render_layers(labels: Labels, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, subject mask, prop map): the prop map (int8 (H, W)) holds the index into `labels.props`
    of the prop each pixel shows, -1 elsewhere (always -1 in world v1).

    v2 draws, in order: the scene with its line in the labelled horizon band, the landmark, the props
    (far to near), the subject, and last the lighting tint over everything (the masks are unchanged).
    """
    pen = _subject_layer(labels, size)
    if labels.world == 1:
        canvas = np.where(pen.mask, pen.canvas, _scene_canvas(labels.scene, size, seed))
        return unpack(canvas), pen.mask, np.full((size, size), -1, dtype=np.int8)
    background = labels.background
    line = line_height(labels.scene, background["horizon"], stream(seed, "horizon"))
    canvas = PAINTERS[labels.scene](stream(seed, "backdrop"), size, line)
    draw_landmark(canvas, background["landmark"], line, stream(seed, "landmark"), pen.mask)
    owner = draw_props(canvas, prop_pens(labels.props, size), size)
    canvas = np.where(pen.mask, pen.canvas, canvas)
    owner[pen.mask] = -1
    return light(unpack(canvas), background["lighting"]), pen.mask, owner
