"""Example stories in SynthWorld's caption words, which the bundled model knows (`svdstory world info`
lists them): subjects, scenes, identity words, and world v2's lighting, landmark, layout and prop phrases."""
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
    Example("Red bus trip", "a red bus", ("in a city at sunset", "in a desert", "at night", "on a mountain by a flag")),
    Example("Cat with a hat", "a striped cat with a hat", ("in a room", "in a field", "underwater", "in the snow"),
            "cat", "a photo of"),
    Example("Blue mug", "a blue mug", ("on a beach", "in a room", "in a forest"), "mug", "a picture of"),
    Example("Small dog about town", "a small dog", ("in a city near two cars", "on a beach at twilight",
                                                    "in a field facing front", "in a forest by a balloon"),
            "dog", "there is"),
)
