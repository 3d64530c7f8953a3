"""A story: one subject (or several), the scenes it appears in, and how prompts are built."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import SvdStoryError


@dataclass(frozen=True)
class Story:
    """Prompt i is `style + subject + scene i`; `tokens` are the words that name each subject."""

    subject: str  # e.g. "a red bus"
    scenes: tuple[str, ...]  # e.g. ("on a beach", "in a city")
    tokens: tuple[str, ...] = ()  # subject words to localise; default: the subject's head noun
    style: str = ""  # e.g. "a watercolor illustration of"
    seeds: tuple[int, ...] = ()  # one per scene; default: the run seed + scene index

    def __post_init__(self):
        object.__setattr__(self, "scenes", tuple(self.scenes))
        object.__setattr__(self, "tokens", tuple(self.tokens) or (head_noun(self.subject),))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.subject.strip():
            raise SvdStoryError("the subject is empty")
        if not self.scenes:
            raise SvdStoryError("the story has no scenes: give at least one --scene")
        if self.seeds and len(self.seeds) != len(self.scenes):
            raise SvdStoryError(f"the story lists {len(self.seeds)} seeds for {len(self.scenes)} scenes")

    @property
    def prompts(self) -> list[str]:
        return [compose_prompt(self.style, self.subject, scene) for scene in self.scenes]

    def image_seeds(self, base_seed: int) -> list[int]:
        return list(self.seeds) if self.seeds else [base_seed + i for i in range(len(self.scenes))]

    def with_scenes(self, scenes, seeds=()) -> "Story":
        return Story(self.subject, tuple(scenes), self.tokens, self.style, tuple(seeds))


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


def load_story(path: str | Path, overrides: dict | None = None) -> Story:
    """Read a story from YAML: subject, scenes, and optionally tokens, style, seeds."""
    path = Path(path)
    if not path.is_file():
        raise SvdStoryError(f"story file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid YAML"
        raise SvdStoryError(f"story file {str(path)!r} does not parse: {first}") from None
    if not isinstance(data, dict):
        raise SvdStoryError(f"story file {str(path)!r} must hold a mapping with subject and scenes")
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v}}
    unknown = set(data) - {"subject", "scenes", "tokens", "style", "seeds", "category", "name"}
    if unknown:
        raise SvdStoryError(f"story file {str(path)!r}: unknown keys {sorted(unknown)}")
    if "subject" not in data or "scenes" not in data:
        raise SvdStoryError(f"story file {str(path)!r} needs both 'subject' and 'scenes'")
    tokens = data.get("tokens") or ()
    return Story(
        subject=str(data["subject"]),
        scenes=tuple(str(s) for s in data["scenes"] or ()),
        tokens=(tokens,) if isinstance(tokens, str) else tuple(str(t) for t in tokens),
        style=str(data.get("style") or ""),
        seeds=tuple(data.get("seeds") or ()),
    )
