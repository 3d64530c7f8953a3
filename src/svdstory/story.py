"""A story: one subject (or several), the scenes it appears in, and how prompts are built."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import SvdStoryError
from .settings import check_seed


@dataclass(frozen=True)
class Story:
    """Prompt i is `style + subject + scene i`; `tokens` are the words that name each subject."""

    subject: str  # e.g. "a red bus"
    scenes: tuple[str, ...]  # e.g. ("on a beach", "in a city")
    tokens: tuple[str, ...] = ()  # subject words to localise; default: the subject's head noun
    style: str = ""  # e.g. "a watercolor illustration of"
    seeds: tuple[int, ...] = ()  # one per scene; default: the run seed + scene index

    def __post_init__(self):
        for name in ("scenes", "tokens", "seeds"):
            if isinstance(getattr(self, name), (str, bytes)):  # a string is not a list of one item per character
                raise SvdStoryError(f"the story's {name} must be a list, got the text {getattr(self, name)!r}")
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_text("subject", self.subject)
        _check_text("style", self.style, empty=True)
        for i, scene in enumerate(self.scenes):
            _check_text(f"scene {i + 1}", scene)
        object.__setattr__(self, "tokens", self.tokens or (head_noun(self.subject),))
        for token in self.tokens:
            _check_text("token", token)
        if not self.scenes:
            raise SvdStoryError("the story has no scenes: give at least one --scene")
        for seed in self.seeds:
            check_seed(seed, "seed")
        if self.seeds and len(self.seeds) != len(self.scenes):
            raise SvdStoryError(f"the story lists {len(self.seeds)} seeds for {len(self.scenes)} scene(s)")

    @property
    def prompts(self) -> list[str]:
        return [compose_prompt(self.style, self.subject, scene) for scene in self.scenes]

    def image_seeds(self, base_seed: int) -> list[int]:
        if self.seeds:
            return list(self.seeds)
        check_seed(base_seed + len(self.scenes) - 1, f"seed {base_seed} + {len(self.scenes) - 1} (the last image's)")
        return [base_seed + i for i in range(len(self.scenes))]

    def with_scenes(self, scenes, seeds=()) -> "Story":
        return Story(self.subject, tuple(scenes), self.tokens, self.style, tuple(seeds))


def _check_text(what: str, value, empty: bool = False) -> None:
    if not isinstance(value, str):
        raise SvdStoryError(f"the story's {what} must be text, got {value!r}")
    if not empty and not value.strip():
        raise SvdStoryError(f"the story's {what} is empty")


def compose_prompt(style: str, subject: str, scene: str) -> str:
    return " ".join(part.strip() for part in (style, subject, scene) if part.strip())


_STOPWORDS = {"a", "an", "the", "of", "with", "in", "on", "at", "and", "wearing", "holding"}


def head_noun(subject: str) -> str:
    """The last content word before any preposition: "a red bus with stripes" -> "bus"."""
    words = [w.strip(".,;:!?\"'()") for w in subject.split()]
    head = []
    for word in words:
        if word.lower() in ("with", "in", "on", "at", "wearing", "holding", "of") and head:
            break
        if word and word.lower() not in _STOPWORDS:
            head.append(word)
    if not head:
        raise SvdStoryError(f"cannot find a noun in subject {subject!r}: pass --token")
    return head[-1]


STORY_KEYS = ("subject", "scenes", "tokens", "style", "seeds", "negative_prompt", "category", "name", "reference",
              "reference_prompt", "reference_mask")


def load_story(path: str | Path, overrides: dict | None = None) -> Story:
    """Read a story from YAML: subject, scenes, and optionally tokens, style, seeds."""
    return read_story_file(path, overrides)[0]


def read_story_file(path: str | Path, overrides: dict | None = None) -> tuple[Story, dict]:
    """The story of a YAML file, and the settings it names (`negative_prompt`; `reference` and `reference_mask`,
    paths relative to the file's folder, and `reference_prompt`); every field's type is checked. `overrides` (the
    command line's subject, scenes, ...) replace the file's where given."""
    path = Path(path)
    where = f"story file {str(path)!r}"
    if path.is_dir():
        raise SvdStoryError(f"{where} is a folder, not a YAML file")
    if not path.is_file():
        raise SvdStoryError(f"{where} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise SvdStoryError(f"{where} does not parse: {first}") from None
    if not isinstance(data, dict):
        raise SvdStoryError(f"{where} must hold a mapping with subject and scenes")
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v}}
    unknown = set(data) - set(STORY_KEYS)
    if unknown:
        raise SvdStoryError(f"{where}: unknown keys {sorted(map(str, unknown))} (known: {', '.join(STORY_KEYS)})")
    if data.get("subject") is None or data.get("scenes") is None:
        raise SvdStoryError(f"{where} needs both 'subject' and 'scenes'")
    story = Story(**story_fields(data, where))
    for key in ("category", "name"):
        _text(data, key, where)
    negative = _text(data, "negative_prompt", where) if data.get("negative_prompt") is not None else None
    beside = lambda key: str(path.parent / _text(data, key, where)) if _text(data, key, where) else None  # noqa: E731
    return story, {"negative_prompt": negative, "reference": beside("reference"),
                   "reference_prompt": _text(data, "reference_prompt", where) or None,
                   "reference_mask": beside("reference_mask")}


def story_fields(data: dict, where: str) -> dict:
    """A story mapping's subject, scenes, tokens, style and seeds, each checked for its type (a string is
    not a list of scenes; seeds are whole numbers); `where` names the mapping in the error."""
    tokens = data.get("tokens")
    return {"subject": _text(data, "subject", where), "scenes": _texts(data, "scenes", where),
            "tokens": (_text(data, "tokens", where),) if isinstance(tokens, str) else _texts(data, "tokens", where),
            "style": _text(data, "style", where), "seeds": _seeds(data, where)}


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SvdStoryError(f"{where}: {key} must be text, got {value!r}")
    return value


def _texts(data: dict, key: str, where: str) -> tuple[str, ...]:
    values = data.get(key)
    if values is None:
        return ()
    if not isinstance(values, list):
        raise SvdStoryError(f"{where}: {key} must be a list, one text per item, got {values!r}")
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise SvdStoryError(f"{where}: every item of {key} must be non-empty text, got {value!r}")
    return tuple(values)


def _seeds(data: dict, where: str) -> tuple[int, ...]:
    values = data.get("seeds")
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SvdStoryError(f"{where}: seeds must be a list of whole numbers such as [1, 2, 3], got {values!r}")
    for value in values:
        check_seed(value, f"{where}: seed")
    return tuple(values)
