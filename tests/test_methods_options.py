"""Method options described for `svdstory methods` and the web UI: type, default, allowed values, meaning."""
import dataclasses

import pytest

from svdstory import SvdStoryError
from svdstory.methods.configs import DECOMPOSITIONS, SVD_TARGETS
from svdstory.methods.options import describe
from svdstory.methods.registry import get_method, method_names
from svdstory.resolve import method_config

METHODS = ["vanilla", "consistory", "shared", "svd", "storydiffusion", "1p1s"]


def test_every_builtin_method_is_listed():
    assert set(METHODS) <= set(method_names())


@pytest.mark.parametrize("method", METHODS)
def test_every_option_is_described_as_the_running_config_declares_it(method):
    running = {f.name: f for f in dataclasses.fields(get_method(method).config)}
    described = describe(method)
    assert [o.name for o in described] == list(running)
    for opt in described:
        assert opt.help and "\n" not in opt.help, opt.name
        assert opt.default == running[opt.name].default, opt.name
        assert opt.type == running[opt.name].type, opt.name


@pytest.mark.parametrize("method", METHODS)
def test_allowed_values_are_exactly_what_validation_accepts(method):
    for opt in describe(method):
        if opt.choices is None:
            continue
        for value in opt.choices:
            extra = {"rank": 4} if value in ("randomized", "subspace") else {}
            assert getattr(method_config(method, {opt.name: value, **extra})[1], opt.name) == value
        with pytest.raises(SvdStoryError, match=opt.name):
            method_config(method, {opt.name: "no-such-value"})


def test_fixed_sets_are_described():
    choices = {(m, o.name): o.choices for m in METHODS for o in describe(m)}
    assert choices[("consistory", "scheduler")] == ("default", "ddim")
    assert choices[("consistory", "prepass")] == ("feature", "full")
    assert choices[("svd", "cache_device")] == ("same", "cpu")
    assert choices[("svd", "target")] == SVD_TARGETS and choices[("svd", "decomposition")] == DECOMPOSITIONS
    assert choices[("svd", "zero")] is None


def test_the_svd_choices_match_what_the_code_implements():
    from svdstory.methods.sharing.svd_targets import TARGETS
    from svdstory.spectral import decomposition_names

    assert tuple(TARGETS) == SVD_TARGETS
    assert set(DECOMPOSITIONS) <= set(decomposition_names())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_option_values_are_refused(value):
    with pytest.raises(SvdStoryError, match="injection_alpha"):
        method_config("consistory", {"injection_alpha": value})
    with pytest.raises(SvdStoryError, match="dift_timestep"):
        method_config("consistory", {"dift_timestep": value})
    with pytest.raises(SvdStoryError, match="steps"):
        method_config("svd", {"steps": f"0,{value}"})
    with pytest.raises(SvdStoryError, match="enhance_beta"):
        method_config("1p1s", {"enhance_beta": float(value)})
