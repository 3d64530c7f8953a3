"""Story suites: the built-in `real` and `synthworld[:N]` (world v2) suites, or a YAML/JSON file of stories.

A suite file holds `stories:`, a list of items with `id`, `subject`, `scenes` and optionally
`category`, `tokens`, `style`, `seeds`, `truth` (the story items of the evaluation contract).
Seeds left out are derived from the story id, so editing one story never moves another's noise.
"""
from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import SvdStoryError
from ..story import Story, story_fields

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "suites"
SYNTHWORLD_DEFAULT_SIZE = 100
SEED_STRIDE = 1_000_003  # seed index k adds k * SEED_STRIDE: far from every story's own seeds
SEED_LIMIT = 2**31 - 1  # generators on every backend accept seeds below this
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # no dots: ".s1" marks extra seeds on disk
_KEYS = {"id", "subject", "scenes", "category", "tokens", "style", "seeds", "truth", "reference", "reference_prompt"}


@dataclass(frozen=True)
class Suite:
    name: str  # as the user gave it: "real", "synthworld:200", or a file path
    stories: tuple  # story item dicts, complete (category, tokens, style and seeds filled in)

    @property
    def digest(self) -> str:
        """Hash of the stories' content: a bench folder refuses a suite whose stories changed."""
        text = json.dumps(list(self.stories), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def is_synthworld(self) -> bool:
        return self.name.split(":")[0] in SYNTHWORLD_SUITES or all("truth" in s for s in self.stories)


def builtin_suites() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")) + ["synthworld[:N]"]


def load_suite(name: str) -> Suite:
    """`real` (or any bundled name), `synthworld` / `synthworld:N` (the world v2 suite of N stories;
    `synthworld-v2[:N]` is another name for it), or a path to a YAML/JSON file."""
    head, _, size = name.partition(":")
    if head in SYNTHWORLD_SUITES:
        return Suite(name, tuple(complete_item(s, i) for i, s in enumerate(_synthworld(size, head))))
    path = BUILTIN_DIR / f"{name}.yaml"
    if not path.is_file():
        path = Path(name)
    if not path.is_file():
        raise SvdStoryError(f"--suite {name!r} is neither a file nor a built-in suite "
                            f"({', '.join(builtin_suites())})")
    return Suite(name, tuple(complete_item(s, i, path.parent) for i, s in enumerate(_read_items(path))))


SYNTHWORLD_SUITES = ("synthworld", "synthworld-v2")  # one suite: the second name is what v2's first benches used


def _synthworld(size: str, head: str = "synthworld") -> list[dict]:
    try:
        n = int(size) if size else SYNTHWORLD_DEFAULT_SIZE
    except ValueError:
        n = 0
    if n < 1:
        raise SvdStoryError(f"--suite {head}:{size}: the number of stories after ':' must be a whole number, "
                            "at least 1")
    try:
        from .synthworld import synthworld_suite_v2
    except ImportError as err:
        raise SvdStoryError(f"--suite {head} needs svdstory.eval.synthworld, "
                            f"which failed to import ({err})") from None
    return synthworld_suite_v2(n)


def _read_items(path: Path) -> list:
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else "invalid syntax"
        raise SvdStoryError(f"suite file {str(path)!r} does not parse: {first}") from None
    items = data.get("stories") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise SvdStoryError(f"suite file {str(path)!r} must hold a non-empty list 'stories:'")
    ids = [item.get("id") if isinstance(item, dict) else None for item in items]
    duplicates = sorted({i for i in ids if i is not None and ids.count(i) > 1})
    if duplicates:
        raise SvdStoryError(f"suite file {str(path)!r}: story ids {duplicates} appear more than once")
    return items


def complete_item(item, index: int, folder: Path | None = None) -> dict:
    """Check one story item and fill in its defaults; the result is what every unit record stores. A `reference`
    photo's path is read relative to `folder` (the suite file's) and checked now, not mid-bench."""
    if not isinstance(item, dict):
        raise SvdStoryError(f"story #{index} of the suite is not a mapping")
    sid = str(item.get("id", ""))
    if not _ID.match(sid):
        raise SvdStoryError(f"story #{index}: id {sid!r} must be letters, digits, '-' or '_'")
    unknown = set(item) - _KEYS
    if unknown:
        raise SvdStoryError(f"story {sid!r}: unknown keys {sorted(unknown)}")
    if not item.get("subject") or not item.get("scenes"):
        raise SvdStoryError(f"story {sid!r} needs both 'subject' and 'scenes'")
    fields = story_fields(item, f"story {sid!r}")
    category = item.get("category") or "other"
    if not isinstance(category, str):
        raise SvdStoryError(f"story {sid!r}: category must be text, got {category!r}")
    out = {"id": sid, "subject": fields["subject"], "category": category, "tokens": list(fields["tokens"]),
           "style": fields["style"], "scenes": list(fields["scenes"]),
           "seeds": list(fields["seeds"] or default_seeds(sid, len(fields["scenes"])))}
    if item.get("truth") is not None:
        out["truth"] = item["truth"]
    if item.get("reference") is not None:
        out.update(_reference(item, sid, folder))
    to_story(out)  # the Story's own checks (seed count, a findable head noun) run now, not mid-bench
    return out


def _reference(item: dict, sid: str, folder: Path | None) -> dict:
    """The story's reference photo (an absolute path, readable) and its prompt."""
    from ..reference.photo import DEFAULT_PROMPT, Reference, read_photo

    photo, prompt = item["reference"], item.get("reference_prompt") or DEFAULT_PROMPT
    if not isinstance(photo, str) or not isinstance(prompt, str):
        raise SvdStoryError(f"story {sid!r}: reference and reference_prompt must be text")
    path = (Path(folder or ".") / photo).absolute()
    read_photo(Reference(str(path), prompt, name=f"story {sid!r}: reference"))
    return {"reference": str(path), "reference_prompt": prompt}


def reference_of(item: dict, method):
    """The Reference a unit's method runs against: the story's photo where the method takes one, else None (a
    method that cannot, vanilla, is the text-alone baseline beside it)."""
    if item.get("reference") is None or not method.reference:
        return None
    from ..reference.photo import Reference

    return Reference(item["reference"], item["reference_prompt"], name=f"story {item['id']!r}: reference")


def default_seeds(story_id: str, n: int) -> list[int]:
    base = zlib.crc32(story_id.encode()) % 100_000 * 100
    return [base + i for i in range(n)]


def to_story(item: dict, seed_index: int = 0) -> Story:
    """The Story of one unit: seed index k shifts every scene's seed by k * SEED_STRIDE."""
    seeds = tuple(s if not seed_index else (s + seed_index * SEED_STRIDE) % SEED_LIMIT for s in item["seeds"])
    return Story(item["subject"], tuple(item["scenes"]), tuple(item["tokens"]), item["style"], seeds)
