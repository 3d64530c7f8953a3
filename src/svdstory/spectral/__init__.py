"""Pure functions over singular values: decompositions, zeroing, reweighting, specs, schedules.

The spectral method's attention processors call `spectral_filter(M, spec)` with a spec resolved
for the current step and layer (`resolve`); everything here is stateless and works on batches of
matrices `(..., m, n)` in any float dtype (maths in float32).
"""

from . import builtin as _builtin  # noqa: F401  (registers the built-in strategies)
from .decompose import Svd, gram_svd, randomized_svd, subspace_basis, subspace_svd, svd
from .filter import (SpectrumFn, basis_from_gram, filter_in_basis, filter_matrix, gram_matrix, right_basis,
                     spectral_filter)
from .registry import ParamDef, StrategyDef, get_strategy, register, strategy_names
from .reweighting import exp_reweight, power_reweight, preserve_norm, topk_boost
from .schedule import active_steps, resolve
from .select import choose_method, decompose, decomposition_names, head_route, register_decomposition
from .spec import Ramp, SpectralSpec, StrategySpec, compose, parse_spec
from .zeroing import (
    gavish_donoho,
    gd_lambda,
    gd_omega,
    gd_threshold,
    hard_threshold,
    keep_energy,
    keep_rank,
    relative_threshold,
    soft_threshold,
)

__all__ = [
    "ParamDef", "Ramp", "SpectralSpec", "SpectrumFn", "StrategyDef", "StrategySpec", "Svd",
    "active_steps", "basis_from_gram", "choose_method", "compose", "decompose", "decomposition_names", "exp_reweight",
    "filter_in_basis", "filter_matrix", "gavish_donoho", "gd_lambda", "gd_omega", "gd_threshold", "get_strategy", "gram_matrix", "gram_svd",
    "hard_threshold", "head_route", "keep_energy", "keep_rank", "parse_spec", "power_reweight",
    "preserve_norm", "randomized_svd", "register", "register_decomposition", "relative_threshold",
    "resolve", "right_basis", "soft_threshold", "spectral_filter", "strategy_names", "subspace_basis", "subspace_svd", "svd",
    "topk_boost",
]
