"""World v2 captions: the subject and the scene always, sometimes identity attributes, background
and layout details and the props, in templates that move the subject word around
("a cat in a forest", "in a forest there is a cat", "a forest scene with a cat", "at sunset a cat in
a forest near two cars"); and their inverse, `parse_caption_v2`.
"""

from __future__ import annotations

import re

import numpy as np

from svdstory.world.captions import ADJECTIVES, PREFIXES, SCENE_PHRASES, _article, _mentioned, _trailing
from svdstory.world.captions import vocabulary as vocabulary_v1
from svdstory.world.catalog import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS
from svdstory.world.labels import Labels

PLURALS = {name: name + ("es" if name.endswith(("s", "x")) else "s") for name in SUBJECTS}
_SINGULAR = {plural: name for name, plural in PLURALS.items()}
COUNTS = ("a", "two", "three")
PROP_MARKERS = ("near", "beside", "behind")
LIGHTING_PHRASES = {"noon": "at noon", "sunset": "at sunset", "twilight": "at twilight",
                    "overcast": "on an overcast day"}
PLACEMENT_PHRASES = {"left": "on the left", "centre": "in the centre", "right": "on the right"}
SIZE_WORDS = {"small": "small", "large": "large"}  # a medium subject goes unnamed, as a missing accessory
TEMPLATES = ("{subject} {scene}", "{scene} there is {subject}", "{scene_noun} scene with {subject}")
_WORD_TO_ATTRIBUTE = {value: name for name, values in ATTRIBUTES.items() for value in values}


def _details(labels: Labels, rng: np.random.Generator) -> list[str]:
    """Phrases for a random non-empty subset of background, layout and prop details, shuffled."""
    bg, staging = labels.background, labels.layout_attributes
    options = [LIGHTING_PHRASES[bg["lighting"]], f"by a {bg['landmark']}", f"with a {bg['horizon']} horizon",
               PLACEMENT_PHRASES[staging["placement"]], f"facing {staging['facing']}"]
    if labels.props:
        options.append(_props_phrase(labels, rng))
    picked = [p for p in options if rng.uniform() < 0.4] or [options[rng.integers(len(options))]]
    return [picked[i] for i in rng.permutation(len(picked))]


def _props_phrase(labels: Labels, rng: np.random.Generator) -> str:
    counts: dict[str, int] = {}
    for prop in labels.props:
        counts[prop.subject] = counts.get(prop.subject, 0) + 1
    groups = [(PLURALS[c] if n > 1 else ("an" if c[0] in "aeiou" else "a") + " " + c) if n == 1 else
              f"{COUNTS[n - 1]} {PLURALS[c]}" for c, n in counts.items()]
    return PROP_MARKERS[rng.integers(len(PROP_MARKERS))] + " " + " and ".join(groups)


def caption_v2(labels: Labels, rng: np.random.Generator, attribute_rate: float = 0.3,
               detail_rate: float = 0.5, clause_rate: float = 0.0) -> str:
    """`clause_rate`: the share of captions written as comma-separated clauses, the subject's first and the
    scene's and every detail's after it in random order ("a dog, at noon, on a beach, by a rock"), as real
    captions list what they see (and as 1p1s's one prompt lists its frames). At 0 no draw is made, so the
    captions of every seed stay as they were."""
    names = _mentioned(labels, rng, attribute_rate)
    size = SIZE_WORDS.get(labels.layout_attributes["size"]) if rng.uniform() < attribute_rate else None
    noun = ([size] if size else []) + [labels.attributes[n] for n in ADJECTIVES if n in names] + [labels.subject]
    subject = " ".join([_article(rng, noun[0]), *noun, *_trailing(labels, names, rng)])
    phrases = SCENE_PHRASES[labels.scene]
    scene = phrases[rng.integers(len(phrases))].format(labels.scene)
    scene_noun = ("an " if labels.scene[0] in "aeiou" else "a ") + labels.scene
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    text = template.format(subject=subject, scene=scene, scene_noun=scene_noun)
    details = []
    if rng.uniform() < detail_rate:
        details = _details(labels, rng)
        front = rng.uniform() < 0.3  # some details before the rest: the subject word moves further
        text = " ".join(details[:1] + [text] + details[1:]) if front else " ".join([text] + details)
    if clause_rate > 0 and rng.uniform() < clause_rate:
        rest = [scene, *details]
        text = ", ".join([subject] + [rest[i] for i in rng.permutation(len(rest))])
    prefix = PREFIXES[rng.integers(len(PREFIXES))]
    return prefix + text if text.split()[0] in ("a", "an", "the") else text  # "a photo of a cat ...", never "... of at noon"



def _props(words: list[str], start: int) -> tuple[dict[str, int], int]:
    """The props named after a marker at words[start - 1]: ({class: count}, index after the phrase)."""
    found, i = {}, start
    while i < len(words):
        count = 1
        if words[i] in COUNTS + ("an",):
            count = COUNTS.index(words[i]) + 1 if words[i] in COUNTS else 1
            i += 1
        if i < len(words) and (words[i] in SUBJECTS or words[i] in _SINGULAR):
            found[_SINGULAR.get(words[i], words[i])] = count
            i += 1
        else:
            break
        if i < len(words) and words[i] == "and" and i + 1 < len(words) and words[i + 1] in COUNTS + ("an",):
            i += 1
        else:
            break
    return found, i


def parse_caption_v2(text: str) -> dict:
    """{"subject", "scene", "attributes", "background", "layout_attributes", "props": {class: count}};
    parts a caption does not name are None or left out of their dict."""
    words = re.findall(r"[a-z]+", text.lower())
    out = {"subject": None, "scene": None, "attributes": {}, "background": {}, "layout_attributes": {}, "props": {}}
    i = 0
    while i < len(words):
        w, prev = words[i], words[i - 1] if i else ""
        if w in PROP_MARKERS:
            props, i = _props(words, i + 1)
            out["props"].update(props)
            continue
        if w in SUBJECTS and out["subject"] is None:
            out["subject"] = w
        elif w in SCENES and out["scene"] is None:
            out["scene"] = w
        elif w in _WORD_TO_ATTRIBUTE:
            out["attributes"][_WORD_TO_ATTRIBUTE[w]] = w
        elif w in BACKGROUND_ATTRIBUTES["lighting"] or w in BACKGROUND_ATTRIBUTES["landmark"]:
            out["background"]["lighting" if w in BACKGROUND_ATTRIBUTES["lighting"] else "landmark"] = w
        elif w == "horizon" and prev in BACKGROUND_ATTRIBUTES["horizon"]:
            out["background"]["horizon"] = prev
        elif w in LAYOUT_ATTRIBUTES["facing"] and prev == "facing":
            out["layout_attributes"]["facing"] = w
        elif w in PLACEMENT_PHRASES and prev == "the":
            out["layout_attributes"]["placement"] = w
        elif w in SIZE_WORDS:
            out["layout_attributes"]["size"] = w
        i += 1
    return out


def vocabulary_v2() -> list[str]:
    """Every word a v1 or v2 caption can contain, sorted."""
    words = set(vocabulary_v1()) | set(PLURALS.values()) | set(COUNTS) | set(PROP_MARKERS) | set(SIZE_WORDS)
    for phrase in [*LIGHTING_PHRASES.values(), *PLACEMENT_PHRASES.values(), *TEMPLATES]:
        words |= set(re.findall(r"[a-z]+", phrase))
    words |= {"by", "with", "horizon", "facing", "scene", "there", "is"} | set(LAYOUT_ATTRIBUTES["facing"])
    words |= {v for values in BACKGROUND_ATTRIBUTES.values() for v in values}
    return sorted(words)


# `vocabulary_v2` reads the template fields "{scene_noun}" and "{subject}" as words too: the trained
# tokenizer holds "noun" and "subject" (its ids follow from the whole list, so the list stays), but no
# caption does.
TEMPLATE_FIELD_WORDS = ("noun", "subject")


def caption_words_v2() -> list[str]:
    """Every word a v1 or v2 caption can contain, sorted: what the bundled models know."""
    return [w for w in vocabulary_v2() if w not in TEMPLATE_FIELD_WORDS]
