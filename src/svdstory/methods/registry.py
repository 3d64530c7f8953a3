"""Methods register themselves by name: later methods plug in without touching the pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import SvdStoryError


@dataclass(frozen=True)
class Method:
    """A consistency method: a typed config and the functions that run it."""

    name: str
    config: type  # frozen dataclass of the method's options, with documented defaults
    run: Callable  # run(ctx, config) -> RunOutput: the whole story in one batch
    run_anchors: Callable | None = None  # run_anchors(ctx, config) -> (RunOutput, cache)
    run_extra: Callable | None = None  # run_extra(ctx, config, cache) -> RunOutput: one more image
    summary: str = ""


_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    from . import load_builtin  # noqa: F401  (imports the built-in methods once)

    load_builtin()
    if name not in _METHODS:
        raise SvdStoryError(f"unknown method {name!r} (known: {', '.join(sorted(_METHODS))})")
    return _METHODS[name]


def method_names() -> list[str]:
    from . import load_builtin

    load_builtin()
    return sorted(_METHODS)
