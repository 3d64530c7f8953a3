"""When a spec applies: step ranges, layer filters and ramped parameters, resolved per call.

Step i of a run of N denoising steps sits at fraction i / N. An item with `@steps=a..b` is active
for the steps with a <= i / N < b, so "0..0.5" and "0.5..1" split a run exactly in two. A ramp
`x->y` takes the value x on the item's first active step and y on its last, linearly between.
An item with `@layers=p|q` is active in the layers whose name contains p or q.
"""

from __future__ import annotations

from functools import lru_cache

from .spec import Ramp, SpectralSpec, StrategySpec, parse_spec


def active_steps(steps: tuple[float, float], num_steps: int) -> range:
    """The step indices i with start <= i / num_steps < end (compared exactly, no rounding)."""
    start, end = steps
    inside = [i for i in range(num_steps) if start <= i / num_steps < end]
    return range(inside[0], inside[-1] + 1) if inside else range(0)


def _resolve_item(item: StrategySpec, step: int, num_steps: int, layer_name: str) -> StrategySpec | None:
    if item.layers and not any(pattern in layer_name for pattern in item.layers):
        return None
    steps = active_steps(item.steps, num_steps)
    if step not in steps:
        return None
    progress = (step - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 0.0
    params = tuple(p.at(progress) if isinstance(p, Ramp) else p for p in item.params)
    return StrategySpec(item.name, params, item.norm)


@lru_cache(maxsize=4096)
def _resolve(spec: SpectralSpec, step: int, num_steps: int, layer_name: str) -> SpectralSpec | None:
    items = [_resolve_item(item, step, num_steps, layer_name) for item in spec.items]
    active = tuple(item for item in items if item is not None)
    if not active or all(item.name == "none" for item in active):
        return None
    return SpectralSpec(active)


def resolve(spec: SpectralSpec | str, step: int, num_steps: int, layer_name: str) -> SpectralSpec | None:
    """The unscheduled chain to apply at denoising `step` (0-based) of `num_steps` in `layer_name`.

    None means "leave the matrix unchanged", so the caller can skip the decomposition entirely.
    """
    if not 0 <= step < num_steps:
        raise ValueError(f"step {step} outside a run of {num_steps} steps")
    return _resolve(parse_spec(spec) if isinstance(spec, str) else spec, step, num_steps, layer_name)
