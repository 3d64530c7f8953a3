"""Spectral specs: frozen, printable descriptions of what to do to a spectrum.

Grammar (what the CLI's `zero=` and `reweight=` options take):

    chain  := item ("," item)*                  applied left to right
    item   := name (":" param)* ["+norm"] ("@" option)*
    param  := number | number "->" number       "->": interpolated over the active steps
    option := "steps=" start ".." end           active while start <= step / num_steps < end
            | "layers=" pattern ("|" pattern)*  active in layers whose name contains a pattern

e.g. "energy:0.9", "energy:0.95->0.8@steps=0..0.6", "exp:0.01:1.0+norm", "energy:0.9,rank:16",
"gd@layers=up_blocks". `+norm` rescales the result to the Frobenius norm of the spectrum the whole
chain started from (the unfiltered matrix), so zeroing plus `+norm` moves energy onto the kept
directions instead of dropping it. `str(spec)` prints the canonical form, which parses back to an
equal spec (defaults are filled in, numbers printed exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from ..errors import SvdStoryError
from .decompose import compute_dtype
from .registry import Kind, Number, ParamDef, StrategyDef, get_strategy
from .reweighting import preserve_norm

ALL_STEPS = (0.0, 1.0)
_SEPARATORS = ",@|:"


class _Problem(Exception):
    """What is wrong with one item; turned into a SvdStoryError that quotes the item."""


def _fmt(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Ramp:
    """A parameter that moves linearly from `start` (first active step) to `end` (last one)."""

    start: Number
    end: Number

    def at(self, progress: float) -> Number:
        value = (1.0 - progress) * self.start + progress * self.end  # exact at both ends
        # Rounding must not step outside [start, end], where the parameter was validated.
        value = min(max(value, min(self.start, self.end)), max(self.start, self.end))
        return math.floor(value + 0.5) if isinstance(self.start, int) else value

    def __str__(self) -> str:
        return f"{_fmt(self.start)}->{_fmt(self.end)}"


Param = Number | Ramp


def _number(value: object, param: ParamDef) -> Number:
    """Coerce one parameter value to its declared type and check its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Problem(f"{param.name} must be a number, got {value!r}")
    if param.type is int:
        if not float(value).is_integer():
            raise _Problem(f"{param.name} must be an integer, got {_fmt(value)}")
        value = int(value)
    else:
        value = float(value)
    if not math.isfinite(value) or not param.check(value):
        raise _Problem(f"needs {param.rule}, got {_fmt(value)}")
    return value


def _param(value: object, param: ParamDef) -> Param:
    if isinstance(value, Ramp):
        return Ramp(_number(value.start, param), _number(value.end, param))
    return _number(value, param)


def _lookup(name: str) -> StrategyDef:
    try:
        return get_strategy(name)
    except SvdStoryError as err:
        raise _Problem(str(err)) from None


def _checked_params(name: str, params: tuple) -> tuple[Param, ...]:
    """Params in canonical form: typed, range-checked, defaults filled in."""
    defn = _lookup(name)
    if len(params) > len(defn.params):
        raise _Problem(f"too many parameters (usage: {defn.usage()})")
    out = [_param(value, param) for value, param in zip(params, defn.params)]
    for param in defn.params[len(params):]:
        if param.required:
            raise _Problem(f"missing parameter {param.name} (usage: {defn.usage()})")
        if param.default is not None:
            out.append(_param(param.default, param))
    return tuple(out)


def _check_schedule(steps: tuple[float, float], layers: tuple[str, ...]) -> None:
    start, end = steps
    if not 0.0 <= start < end <= 1.0:
        raise _Problem(f"steps must satisfy 0 <= start < end <= 1, got {_fmt(start)}..{_fmt(end)}")
    for pattern in layers:
        if not pattern or any(c in pattern for c in _SEPARATORS) or pattern != pattern.strip():
            raise _Problem(f"bad layer pattern {pattern!r}")


@dataclass(frozen=True)
class StrategySpec:
    """One strategy with its parameters and when it applies."""

    name: str  # a registered strategy
    params: tuple[Param, ...] = ()  # positional; a Ramp interpolates over the active steps
    norm: bool = False  # rescale to the Frobenius norm of the chain's input spectrum
    steps: tuple[float, float] = ALL_STEPS  # active while start <= step / num_steps < end
    layers: tuple[str, ...] = ()  # active in layers whose name contains one of these; () = all

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "params", _checked_params(self.name, tuple(self.params)))
            object.__setattr__(self, "steps", (float(self.steps[0]), float(self.steps[1])))
            object.__setattr__(self, "layers", tuple(self.layers))
            _check_schedule(self.steps, self.layers)
        except _Problem as problem:
            raise SvdStoryError(f"bad spectral spec {str(self)!r}: {problem}") from None

    @property
    def is_scheduled(self) -> bool:
        return self.steps != ALL_STEPS or bool(self.layers) or any(isinstance(p, Ramp) for p in self.params)

    def __call__(self, s: Tensor, shape: tuple[int, int], reference: Tensor | None = None) -> Tensor:
        """Apply to `s (..., r)` of m x n matrices; `+norm` matches `reference` (default: `s`)."""
        if any(isinstance(p, Ramp) for p in self.params):
            raise ValueError(f"{self} has ramped parameters: call schedule.resolve() first")
        out = get_strategy(self.name).apply(s, shape, *self.params)
        return preserve_norm(out, s if reference is None else reference) if self.norm else out

    def __str__(self) -> str:
        text = self.name + "".join(f":{_fmt(p)}" for p in self.params)
        text += "+norm" if self.norm else ""
        if self.steps != ALL_STEPS:
            text += f"@steps={_fmt(self.steps[0])}..{_fmt(self.steps[1])}"
        return text + (f"@layers={'|'.join(self.layers)}" if self.layers else "")


@dataclass(frozen=True)
class SpectralSpec:
    """A chain of strategies applied left to right; callable as `spec(s, (m, n))`."""

    items: tuple[StrategySpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if not self.items or not all(isinstance(i, StrategySpec) for i in self.items):
            raise ValueError("a SpectralSpec needs at least one StrategySpec ('none' for nothing)")

    @property
    def is_unchanged(self) -> bool:
        return all(item.name == "none" for item in self.items)

    @property
    def is_scheduled(self) -> bool:
        return any(item.is_scheduled for item in self.items)

    def __call__(self, s: Tensor, shape: tuple[int, int]) -> Tensor:
        """Filter spectra `s (..., r)` in float32; steps/layers are ignored here (see resolve)."""
        original = s.to(compute_dtype(s.dtype)) if s.is_floating_point() else s.float()
        out = original
        for item in self.items:
            out = item(out, shape, reference=original)
        return out.to(s.dtype) if s.is_floating_point() else out

    def __str__(self) -> str:
        return ",".join(str(item) for item in self.items)


def compose(*specs: SpectralSpec) -> SpectralSpec:
    """One chain doing `specs` in order, e.g. compose(zero, reweight); `+norm` refers to the start."""
    return SpectralSpec(tuple(item for spec in specs for item in spec.items))


def _parse_number(text: str, param: ParamDef) -> Number:
    try:
        value = int(text) if param.type is int else float(text)
    except ValueError:
        kind = "an integer" if param.type is int else "a number"
        raise _Problem(f"{param.name} must be {kind}, got {text.strip()!r}") from None
    return _number(value, param)


def _parse_param(text: str, param: ParamDef) -> Param:
    if "->" in text:
        start, end = text.split("->", 1)
        return Ramp(_parse_number(start, param), _parse_number(end, param))
    return _parse_number(text, param)


def _parse_range(text: str) -> tuple[float, float]:
    start, sep, end = text.partition("..")
    try:
        if sep:
            return float(start), float(end)
    except ValueError:
        pass
    raise _Problem(f"steps must read start..end, got {text.strip()!r}")


def _parse_options(options: list[str]) -> dict:
    fields: dict = {}
    for option in options:
        key, _, value = option.partition("=")
        key = key.strip()
        if key in fields or key not in ("steps", "layers"):
            raise _Problem(f"unknown or repeated option {option.strip()!r} (known: @steps=a..b, @layers=p|q)")
        if key == "layers":
            fields["layers"] = tuple(p.strip() for p in value.split("|"))
            continue
        fields["steps"] = _parse_range(value)
    return fields


def _parse_item(text: str, kind: Kind | None) -> StrategySpec:
    head, *options = text.split("@")
    head = head.strip()
    norm = head.endswith("+norm")
    name, *param_texts = (head[: -len("+norm")] if norm else head).split(":")
    defn = _lookup(name.strip())
    if kind is not None and defn.kind not in (kind, "any"):
        raise _Problem(f"{defn.name!r} is a {defn.kind} strategy, not a {kind} one")
    if len(param_texts) > len(defn.params):
        raise _Problem(f"too many parameters (usage: {defn.usage()})")
    params = _checked_params(defn.name, tuple(_parse_param(t, p) for t, p in zip(param_texts, defn.params)))
    fields = _parse_options(options)
    _check_schedule(fields.get("steps", ALL_STEPS), fields.get("layers", ()))
    return StrategySpec(defn.name, params, norm, **fields)  # already valid: cannot raise


def parse_spec(text: str, kind: Kind | None = None) -> SpectralSpec:
    """Parse a chain like "energy:0.9,rank:16"; `kind` restricts it to zero or reweight strategies.

    Raises SvdStoryError naming the offending item for unknown names or bad parameters.
    """
    items = [item.strip() for item in text.split(",")]
    parsed = []
    for item in items:
        where = f" (in {text.strip()!r})" if len(items) > 1 else ""
        try:
            if not item:
                raise _Problem("empty spec (use 'none' for no change)")
            parsed.append(_parse_item(item, kind))
        except _Problem as problem:
            raise SvdStoryError(f"bad spectral spec {item!r}{where}: {problem}") from None
    return SpectralSpec(tuple(parsed))
