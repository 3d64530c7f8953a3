"""Method options described for people and programs: each option's type, default, allowed values and meaning.

A method config declares every field with `option(default, help, choices)`: the one-line meaning and
the allowed values live once, in the field's metadata. Configs validate against the same metadata
(`check_options`), and `describe` reads it for `svdstory methods` and the web UI's controls.
Nothing here imports torch: describing the built-in methods is instant.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import SvdStoryError


@dataclass(frozen=True)
class Option:
    name: str
    type: str  # the annotation as written: "float", "int | None", "tuple[str, ...]"
    default: object
    choices: tuple | None  # the allowed values where the option takes one of a fixed set, else None
    help: str  # what the option means, one line


def option(default, help: str, choices: tuple | None = None):
    """A config field with its meaning and, if the option picks from a fixed set, the allowed values."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def describe_config(config_cls: type) -> list[Option]:
    return [Option(f.name, f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)),
                   f.default, f.metadata.get("choices"), f.metadata.get("help", ""))
            for f in dataclasses.fields(config_cls)]


def describe(method: str) -> list[Option]:
    """Every option of a method, in declaration order. Built-in methods are described without loading them."""
    from .configs import builtin_config

    config_cls = builtin_config(method)
    if config_cls is None:
        from .registry import get_method

        config_cls = get_method(method).config
    return describe_config(config_cls)


def backbones(method: str) -> tuple[str, ...]:
    """The backbones a method runs on (its config says), described without loading a built-in method."""
    from .configs import builtin_config

    return (builtin_config(method) or _registered_config(method)).backbones


def _registered_config(method: str) -> type:
    from .registry import get_method

    return get_method(method).config


def summary(method: str) -> str:
    """A method's one-line summary: the first line of its config's docstring."""
    from .configs import builtin_config

    config_cls = builtin_config(method)
    if config_cls is None:
        from .registry import get_method

        found = get_method(method)
        return found.summary or _first_line(found.config.__doc__)
    return _first_line(config_cls.__doc__)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def check_options(config) -> None:
    """Values outside a field's declared choices, and numbers that are not finite, fail naming the option."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise SvdStoryError(f"option {f.name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, float) and not math.isfinite(item):
                raise SvdStoryError(f"option {f.name} must be a finite number, got {value!r}")


def as_text(value) -> str:
    """A value as `--set key=VALUE` takes it: comma lists for tuples (and JSON's lists), true/false, none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(as_text(v) for v in value)
    return str(value)
