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

# World versions. v1 is one subject in a scene whose word fixes the whole background; v2 adds hidden
# background and layout attributes and background props (docs/synthworld.md). The shipped weights are
# v2's, so `sample`, the CLI, the suites and the training scripts draw v2 unless told; v1 still
# renders byte for byte as it did (`world=1`), with no weights of its own.
WORLDS = (1, 2)
DEFAULT_WORLD = 2

# v2: scene-independent hidden attributes of the background, which a plain prompt leaves open.
# Value words are unique across the vocabulary (as ATTRIBUTES' are), except where a caption phrase
# tells them apart ("on the left" is a placement, "facing left" a facing).
BACKGROUND_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "lighting": ("noon", "sunset", "twilight", "overcast"),  # a global tint over the whole image
    "landmark": ("rock", "barrel", "flag", "balloon"),       # one background prop, its kind
    "horizon": ("high", "mid", "low"),                       # the horizon / ground line's band
}
# v2: where the subject stands, how large it is and which way it faces. Facing is where the
# subject's face (its eyes) points: a side view turned left or right, or a front view toward the
# viewer; every class has all three (docs/synthworld.md, "Facing").
LAYOUT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "placement": ("left", "centre", "right"),  # thirds of the range the subject's box centre can take
    "size": ("small", "medium", "large"),      # bands of image area
    "facing": ("left", "right", "front"),
}
# v2: which object classes stand in a scene's background, with weights; animals only seldom.
PROP_CLASSES: dict[str, dict[str, float]] = {
    "city": {"car": 0.45, "bus": 0.35, "box": 0.15, "dog": 0.05},
    "room": {"chair": 0.3, "lamp": 0.3, "mug": 0.2, "box": 0.15, "cat": 0.05},
    "beach": {"box": 0.6, "mug": 0.25, "bird": 0.15},
    "desert": {"box": 0.6, "car": 0.35, "bird": 0.05},
    "field": {"box": 0.45, "car": 0.4, "rabbit": 0.1, "bird": 0.05},
    "forest": {"box": 0.8, "rabbit": 0.1, "bird": 0.1},
    "snow": {"box": 0.5, "car": 0.45, "bird": 0.05},
    "mountain": {"box": 0.6, "car": 0.3, "bird": 0.1},
    "night": {"car": 0.5, "lamp": 0.3, "box": 0.2},
    "underwater": {"box": 1.0},
}
PROP_COUNTS = (0.2, 0.35, 0.3, 0.15)  # P(0, 1, 2, 3 props)


def info() -> dict:
    """JSON-able summary of the world: subject classes by family, hidden attributes (identity,
    background, layout), scenes, props and the caption words (those the bundled models know)."""
    from svdstory.world.captions_v2 import caption_words_v2

    families = {family: [name for name, f in SUBJECTS.items() if f == family] for family in FAMILIES}
    return {
        "world": DEFAULT_WORLD,
        "versions": list(WORLDS),
        "families": families,
        "attributes": {name: list(values) for name, values in ATTRIBUTES.items()},
        "background": {name: list(values) for name, values in BACKGROUND_ATTRIBUTES.items()},
        "layout": {name: list(values) for name, values in LAYOUT_ATTRIBUTES.items()},
        "scenes": list(SCENES),
        "scene_phrases": {scene: scene_phrase(scene) for scene in SCENES},
        "props": {scene: dict(classes) for scene, classes in PROP_CLASSES.items()},
        "words": caption_words_v2(),
        "default_size": 128,
    }
