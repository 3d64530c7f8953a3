"""Spectral strategies registered by name, with typed, range-checked parameters.

A strategy is a pure function `apply(s, shape, *params) -> s'`; its `StrategyDef` says how the
spec parser should read and validate the parameters. `builtin.py` registers the built-in ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

from torch import Tensor

from ..errors import SvdStoryError

Kind = Literal["zero", "reweight", "any"]
Number = int | float
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ParamDef:
    name: str  # shown in error messages
    type: type  # int or float
    check: Callable[[Number], bool]  # the valid range
    rule: str  # the valid range in words, e.g. "0 < p <= 1"
    default: Number | None = None  # filled in when the parameter is left out
    required: bool = True  # False: may be left out (then `default`, or absent if None)


@dataclass(frozen=True)
class StrategyDef:
    name: str  # what the spec string calls it
    kind: Kind  # which option accepts it: zero=..., reweight=..., or both ("any")
    params: tuple[ParamDef, ...]  # positional, in spec order
    apply: Callable[..., Tensor]  # (s, shape, *params) -> s'
    doc: str  # one line for --help

    def usage(self) -> str:
        """The spec syntax, e.g. "exp:alpha[:beta]"."""
        parts = [self.name]
        for param in self.params:
            parts.append(f":{param.name}" if param.required else f"[:{param.name}]")
        return "".join(parts)


_STRATEGIES: dict[str, StrategyDef] = {}


def register(strategy: StrategyDef) -> StrategyDef:
    """Add a strategy; names are lowercase identifiers and registering one twice is an error."""
    if not _NAME.fullmatch(strategy.name):
        raise ValueError(f"strategy names are lowercase identifiers, got {strategy.name!r}")
    if strategy.name in _STRATEGIES:
        raise ValueError(f"spectral strategy {strategy.name!r} is already registered")
    _STRATEGIES[strategy.name] = strategy
    return strategy


def strategy_names(kind: Kind | None = None) -> tuple[str, ...]:
    """Registered names usable as `kind` ("zero" or "reweight"), or all of them."""
    return tuple(sorted(n for n, d in _STRATEGIES.items() if kind is None or d.kind in (kind, "any")))


def get_strategy(name: str) -> StrategyDef:
    if name not in _STRATEGIES:
        raise SvdStoryError(f"unknown spectral strategy {name!r} (known: {', '.join(strategy_names())})")
    return _STRATEGIES[name]
