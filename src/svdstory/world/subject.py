"""Draws one subject, with its attribute features, onto an empty layer."""

from __future__ import annotations

from svdstory.world.animals import DRAWERS as ANIMAL_DRAWERS
from svdstory.world.features import draw_accessory, draw_eyes
from svdstory.world.frame import Frame
from svdstory.world.labels import Pose
from svdstory.world.objects import DRAWERS as OBJECT_DRAWERS
from svdstory.world.palette import paints
from svdstory.world.pen import Pen

DRAWERS = {**ANIMAL_DRAWERS, **OBJECT_DRAWERS}


def draw_subject(size: int, frame: Frame, subject: str, attributes: dict[str, str], pose: Pose) -> Pen:
    """The subject's layer: `pen.rgb` holds its colours, `pen.mask` exactly its pixels."""
    pen = Pen(size, frame, paints(attributes, frame))
    anchors = DRAWERS[subject](pen, pose)
    draw_eyes(pen, anchors, attributes["eyes"])
    draw_accessory(pen, anchors, attributes["accessory"])
    return pen
