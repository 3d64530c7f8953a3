"""Captions from templates, "[photo of] a [color] [pattern] {subject} [with ...] {in/on/at} {scene}",
and their inverse. Attribute words appear only in a fraction of captions, so that a plain prompt
leaves the subject's identity open.
"""

from __future__ import annotations

import re

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world.catalog import ATTRIBUTES, SCENE_PHRASES, SCENES, SUBJECTS
from svdstory.world.labels import Labels

PREFIXES = ("", "", "", "a photo of ", "photo of ", "a picture of ", "an image of ")
ADJECTIVES = ("color", "pattern")  # named before the subject word; accessory and eyes after it
_WORD_TO_ATTRIBUTE = {value: name for name, values in ATTRIBUTES.items() for value in values}


def _article(rng: np.random.Generator, next_word: str) -> str:
    if rng.uniform() < 0.2:
        return "the"
    return "an" if next_word[0] in "aeiou" else "a"


def _mentioned(labels: Labels, rng: np.random.Generator, attribute_rate: float) -> list[str]:
    """The attributes this caption names: none, or (with probability attribute_rate) a random non-empty set."""
    if rng.uniform() >= attribute_rate:
        return []
    names = [name for name in ATTRIBUTES if rng.uniform() < 0.5]
    names = [name for name in names if labels.attributes[name] != "none"]  # no word for a missing accessory
    return names or [list(ADJECTIVES)[rng.integers(len(ADJECTIVES))]]


def _trailing(labels: Labels, names: list[str], rng: np.random.Generator) -> list[str]:
    """'with a hat and sleepy eyes', 'wearing a crown with round eyes', ..."""
    words: list[str] = []
    if "accessory" in names:
        words += ["with" if rng.uniform() < 0.5 else "wearing", "a", labels.attributes["accessory"]]
    if "eyes" in names:
        words += ["and" if words and words[0] == "with" else "with", labels.attributes["eyes"], "eyes"]
    return words


def caption(labels: Labels, rng: np.random.Generator, attribute_rate: float = 0.3) -> str:
    if not 0.0 <= attribute_rate <= 1.0:
        raise SvdStoryError(f"attribute_rate must be in [0, 1], got {attribute_rate!r}")
    names = _mentioned(labels, rng, attribute_rate)
    noun = [labels.attributes[name] for name in ADJECTIVES if name in names] + [labels.subject]
    prefix = PREFIXES[rng.integers(len(PREFIXES))]
    phrases = SCENE_PHRASES[labels.scene]
    place = phrases[rng.integers(len(phrases))].format(labels.scene)
    words = [_article(rng, noun[0]), *noun, *_trailing(labels, names, rng), place]
    return prefix + " ".join(words)


def parse_caption(text: str) -> dict:
    """{"subject": ..., "scene": ..., "attributes": {name: value, ...named ones}}; unknown parts None."""
    words = re.findall(r"[a-z]+", text.lower())
    subject = next((w for w in words if w in SUBJECTS), None)
    scene = next((w for w in words if w in SCENES), None)
    attributes = {_WORD_TO_ATTRIBUTE[w]: w for w in words if w in _WORD_TO_ATTRIBUTE}
    return {"subject": subject, "scene": scene, "attributes": attributes}


def vocabulary() -> list[str]:
    """Every word a caption can contain, sorted."""
    words = set(SUBJECTS) | set(SCENES) | {"a", "an", "the", "with", "wearing", "and", "eyes"}
    words |= {w for prefix in PREFIXES for w in prefix.split()}
    words |= {w for phrases in SCENE_PHRASES.values() for p in phrases for w in p.format("").split()}
    words |= {v for values in ATTRIBUTES.values() for v in values if v != "none"}
    return sorted(words)
