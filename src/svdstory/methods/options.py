"""Method options described for people and programs: each option's type, default, allowed values and meaning.

A method config declares every field with `option(default, help, choices)`: the one-line meaning and
the allowed values live once, in the field's metadata. Configs validate against the same metadata
(`check_options`), and `describe` reads it for `svdstory methods` and the web UI's controls.
Nothing here imports torch: describing the built-in methods is instant.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
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


def describe(method: str, defaults: dict | None = None) -> list[Option]:
    """Every option of a method, in declaration order; `defaults` replaces the defaults it names (a model's
    `Backbone.option_defaults`: what the options default to there). Built-in methods are described without loading
    them."""
    from .configs import builtin_config

    config_cls = builtin_config(method)
    if config_cls is None:
        from .registry import get_method

        config_cls = get_method(method).config
    defaults = defaults or {}
    return [dataclasses.replace(option, default=defaults[option.name]) if option.name in defaults else option
            for option in describe_config(config_cls)]


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


def _coerce(text: str, annotation, key: str):
    """Turn the text of one `--set key=value` into the field's declared type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        return _coerce(text, args[0], key)
    if origin is tuple:
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        inner = args[0] if args else str
        return tuple(_coerce(p.strip(), inner, key) for p in parts)
    if annotation is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SvdStoryError(f"option {key}: expected true/false, got {text!r}")
    try:
        return annotation(text)  # the config's check_options refuses numbers that are not finite
    except (TypeError, ValueError):
        raise SvdStoryError(f"option {key}: expected {annotation.__name__}, got {text!r}") from None


def config_from(cls: type, pairs: list[str] | dict, base: dict | None = None):
    """A config of `cls` from `base` values (by field name) with `key=value` pairs over them: made, and so
    validated, once."""
    items = pairs.items() if isinstance(pairs, dict) else [_split_pair(p) for p in pairs]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values = dict(base or {})
    for key, value in items:
        if key not in names:
            known = ", ".join(sorted(names))
            raise SvdStoryError(f"unknown option {key!r} for {cls.__name__} (known: {known})")
        values[key] = _coerce(value, hints[key], key) if isinstance(value, str) else value
    return cls(**values)


def _split_pair(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise SvdStoryError(f"--set expects key=value, got {pair!r}")
    return key.strip(), value.strip()


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SvdStoryError(f"option {name} must lie in [0, 1], got {value}")


def check_range(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not 0.0 <= value[0] <= value[1] <= 1.0:
        raise SvdStoryError(f"option {name} must be start,end with 0 <= start <= end <= 1, got {value}")
