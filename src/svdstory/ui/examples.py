"""Example stories in SynthWorld's words, which the bundled model knows (`svdstory world info`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    name: str  # the label on its button
    subject: str
    scenes: tuple[str, ...]
    tokens: str = ""  # comma-separated subject words; blank: the subject's head noun
    style: str = ""


EXAMPLES = (
    Example("Giraffe on holiday", "a giraffe", ("in a forest", "on a beach", "in the snow", "in a city")),
    Example("Red bus trip", "a red bus", ("in a city", "in a desert", "at night", "on a mountain")),
    Example("Cat with a hat", "a striped cat with a hat", ("in a room", "in a field", "underwater", "in the snow"),
            "cat", "a photo of"),
    Example("Blue mug", "a blue mug", ("on a beach", "in a room", "in a forest"), "mug", "a picture of"),
)
