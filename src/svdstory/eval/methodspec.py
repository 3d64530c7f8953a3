"""`--method` specs of the bench: `[LABEL=]NAME[?KEY=VALUE[&KEY=VALUE...]]`.

Query-string syntax because option values carry every other separator: tuples use ',' (`parts=up,mid`)
and spectral specs use ':', ',', '@', '|', '->' and '=' (`zero=energy:0.9@steps=0..0.6`). Only the
first '=' of a pair splits key from value, and '&' / '?' appear in no option grammar. Quote the spec
in the shell: `--method 'svd?target=kv&zero=energy:0.9'`, `--method 'strong=svd?zero=rank:4'`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from ..errors import SvdStoryError
from ..resolve import method_config

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_LABEL = 64


@dataclass(frozen=True)
class MethodSpec:
    label: str  # folder name and table column, unique within a bench
    name: str  # registered method name
    options: tuple[tuple[str, str], ...]  # the overrides as given, in order
    text: str  # the spec as the user wrote it

    def config(self, backbone=None):
        """The method's full config with the overrides applied over its defaults on `backbone` (a model's; none:
        the UNet defaults), validated: bad options fail here."""
        return method_config(self.name, dict(self.options), backbone)[1]

    def describe(self) -> dict:
        return {"name": self.name, "spec": self.text, "config": asdict(self.config())}


def parse_method_spec(text: str) -> MethodSpec:
    head, _, query = text.strip().partition("?")
    label, eq, name = head.partition("=")
    if not eq:
        label, name = "", head
    name = name.strip()
    if not _NAME.match(name):
        raise SvdStoryError(f"--method {text!r}: expected [LABEL=]NAME[?KEY=VALUE&...], "
                            f"method name {name!r} is not valid")
    options = tuple(_pair(text, part) for part in query.split("&") if part.strip()) if query else ()
    keys = [k for k, _ in options]
    if len(set(keys)) != len(keys):
        raise SvdStoryError(f"--method {text!r} sets an option twice")
    label = label.strip() or auto_label(name, options)
    if not _LABEL.match(label) or len(label) > MAX_LABEL:
        raise SvdStoryError(f"--method {text!r}: label {label!r} must be letters, digits, '_', '.', '+' or '-' "
                            f"(at most {MAX_LABEL})")
    spec = MethodSpec(label, name, options, text.strip())
    spec.config()
    return spec


def _pair(text: str, part: str) -> tuple[str, str]:
    key, eq, value = part.partition("=")
    if not eq or not key.strip():
        raise SvdStoryError(f"--method {text!r}: option {part!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def auto_label(name: str, options) -> str:
    """`svd?target=kv&zero=energy:0.9` -> `svd_target-kv_zero-energy-0.9` (hash-shortened if long)."""
    if not options:
        return name
    slug = "_".join(f"{k}-{v}" for k, v in options)
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", slug).strip("-")
    label = f"{name}_{slug}"
    if len(label) > MAX_LABEL:
        digest = hashlib.sha1(label.encode()).hexdigest()[:8]
        label = f"{label[:MAX_LABEL - 9]}~{digest}".replace("~", "-")
    return label


def parse_method_specs(texts) -> list[MethodSpec]:
    if not texts:
        raise SvdStoryError("give at least one --method")
    specs = [parse_method_spec(t) for t in texts]
    labels = [s.label for s in specs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise SvdStoryError(f"--method labels {duplicates} repeat: name them apart with LABEL=NAME?...")
    return specs
