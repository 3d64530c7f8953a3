"""Draws one subject, with its attribute features, onto an empty layer.

A class is drawn in one of two views: "side", its profile facing +u (the frame mirrors it for a
subject facing left), or "front", toward the viewer (world v2 only). World v1 keeps its own side
views; v2 redraws the side views of the four objects whose v1 profile looks the same mirrored or
turns the wrong way (box, mug, lamp, chair), so that every class shows where it faces.
"""

from __future__ import annotations

from svdstory.world.animals import DRAWERS as ANIMAL_DRAWERS
from svdstory.world.animals_front import DRAWERS as ANIMAL_FRONT
from svdstory.world.features import draw_accessory, draw_eyes
from svdstory.world.frame import Frame
from svdstory.world.labels import Pose, check_choice
from svdstory.world.objects import DRAWERS as OBJECT_DRAWERS
from svdstory.world.objects import SIDE_V2 as OBJECT_SIDE_V2
from svdstory.world.objects_front import DRAWERS as OBJECT_FRONT
from svdstory.world.palette import paints
from svdstory.world.pen import Pen

_SIDE_V1 = {**ANIMAL_DRAWERS, **OBJECT_DRAWERS}
DRAWERS = {  # (world, view) -> class -> drawer
    (1, "side"): _SIDE_V1,
    (2, "side"): {**_SIDE_V1, **OBJECT_SIDE_V2},
    (2, "front"): {**ANIMAL_FRONT, **OBJECT_FRONT},
}


def draw_subject(size: int, frame: Frame, subject: str, attributes: dict[str, str], pose: Pose,
                 world: int = 1, view: str = "side") -> Pen:
    """The subject's layer: `pen.rgb` holds its colours, `pen.mask` exactly its pixels."""
    check_choice("world and view", (world, view), DRAWERS)
    pen = Pen(size, frame, paints(attributes, frame))
    anchors = DRAWERS[world, view][subject](pen, pose)
    draw_eyes(pen, anchors, attributes["eyes"])
    draw_accessory(pen, anchors, attributes["accessory"])
    return pen
