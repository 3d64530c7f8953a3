"""The built-in strategies, registered under the names the spec strings use."""

from __future__ import annotations

import math

from . import reweighting as rw
from . import zeroing as zr
from .registry import ParamDef, StrategyDef, register


def _positive_int(name: str) -> ParamDef:
    return ParamDef(name, int, lambda v: v >= 1, f"{name} >= 1")


def _fraction(name: str, low_open: bool) -> ParamDef:
    if low_open:
        return ParamDef(name, float, lambda v: 0 < v <= 1, f"0 < {name} <= 1")
    return ParamDef(name, float, lambda v: 0 <= v <= 1, f"0 <= {name} <= 1")


def _positive(name: str, default: float | None = None, required: bool = True) -> ParamDef:
    return ParamDef(name, float, lambda v: v > 0, f"{name} > 0", default, required)


_ANY_REAL = ParamDef("alpha", float, math.isfinite, "alpha finite")

register(StrategyDef("none", "any", (), lambda s, shape: s, "leave the spectrum unchanged"))

register(StrategyDef(
    "rank", "zero", (_positive_int("k"),),
    lambda s, shape, k: zr.keep_rank(s, k), "keep the k largest singular values"))
register(StrategyDef(
    "energy", "zero", (_fraction("p", low_open=True),),
    lambda s, shape, p: zr.keep_energy(s, p), "keep the fewest values holding a fraction p of sum(s^2)"))
register(StrategyDef(
    "tau", "zero", (_fraction("tau", low_open=False),),
    lambda s, shape, tau: zr.relative_threshold(s, tau), "keep values >= tau * s_max"))
register(StrategyDef(
    "gd", "zero", (_positive("sigma", required=False),),
    lambda s, shape, *sigma: zr.gavish_donoho(s, shape, *sigma),
    "Gavish-Donoho optimal hard threshold; give sigma if the noise level per entry is known"))
register(StrategyDef(
    "soft", "zero", (_fraction("lam", low_open=False),),
    lambda s, shape, lam: zr.soft_threshold(s, lam, relative=True), "s <- max(s - lam * s_max, 0)"))
register(StrategyDef(
    "soft_abs", "zero", (ParamDef("lam", float, lambda v: v >= 0, "lam >= 0"),),
    lambda s, shape, lam: zr.soft_threshold(s, lam, relative=False), "s <- max(s - lam, 0)"))

register(StrategyDef(
    "exp", "reweight", (_ANY_REAL, _positive("beta", default=1.0, required=False)),
    lambda s, shape, alpha, beta: rw.exp_reweight(s, alpha, beta),
    "s <- beta * exp(alpha * s) * s (1Prompt1Story): alpha > 0 enhances, alpha < 0 suppresses"))
register(StrategyDef(
    "power", "reweight", (_positive("gamma"),),
    lambda s, shape, gamma: rw.power_reweight(s, gamma), "s <- s_max * (s / s_max)^gamma"))
register(StrategyDef(
    "topk", "reweight", (_positive_int("k"), _positive("factor")),
    lambda s, shape, k, factor: rw.topk_boost(s, k, factor), "multiply the k largest values by factor"))
