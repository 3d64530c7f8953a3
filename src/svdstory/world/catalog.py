"""The world's vocabulary: subject classes by family, hidden identity attributes, scene classes."""

from __future__ import annotations

FAMILIES = ("animal", "object")
ANIMALS = ("cat", "dog", "rabbit", "giraffe", "elephant", "bird")  # articulated: pose varies
OBJECTS = ("bus", "car", "box", "mug", "lamp", "chair")  # rigid: translate, scale, mirror

SUBJECTS: dict[str, str] = {**{name: "animal" for name in ANIMALS}, **{name: "object" for name in OBJECTS}}

# Every class carries every attribute; value words are unique across the whole vocabulary so that a
# caption word names its attribute unambiguously.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("red", "orange", "yellow", "green", "blue", "purple"),
    "pattern": ("plain", "striped", "spotted", "checked"),
    "accessory": ("none", "hat", "crown", "bow"),
    "eyes": ("round", "beady", "sleepy", "glowing"),
}

SCENES: tuple[str, ...] = ("beach", "forest", "city", "snow", "desert", "night", "underwater", "room",
                           "field", "mountain")
SCENE_PHRASES = {  # how each scene may be named after the subject; the first is the one to prompt with
    "beach": ("on a {}", "on the {}", "at the {}"), "forest": ("in a {}", "in the {}"),
    "city": ("in a {}", "in the {}"), "snow": ("in the {}", "in {}", "on the {}"),
    "desert": ("in a {}", "in the {}"), "night": ("at {}", "in the {}"), "underwater": ("{}",),
    "room": ("in a {}", "in the {}"), "field": ("in a {}", "on a {}", "in the {}"),
    "mountain": ("on a {}", "on the {}", "at the {}"),
}


def scene_phrase(scene: str) -> str:
    """'in a forest', 'on a beach', 'at night': the first (most common) phrasing of the world's captions."""
    return SCENE_PHRASES[scene][0].format(scene)


def info() -> dict:
    """JSON-able summary of the world: subject classes by family, attributes and scenes."""
    families = {family: [name for name, f in SUBJECTS.items() if f == family] for family in FAMILIES}
    return {
        "families": families,
        "attributes": {name: list(values) for name, values in ATTRIBUTES.items()},
        "scenes": list(SCENES),
        "scene_phrases": {scene: scene_phrase(scene) for scene in SCENES},
        "default_size": 128,
    }
