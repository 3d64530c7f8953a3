"""Spec strings: parsing, canonical printing, round trips, errors, registry and composition."""

import pytest
import torch

from svdstory.errors import SvdStoryError
from svdstory.spectral import (
    ParamDef,
    Ramp,
    SpectralSpec,
    StrategyDef,
    StrategySpec,
    compose,
    keep_energy,
    keep_rank,
    parse_spec,
    register,
    strategy_names,
)

ROUND_TRIP = [
    "none", "energy:0.9", "rank:8", "tau:0.1", "gd", "gd:0.05", "soft:0.05", "soft_abs:2.5",
    "exp:0.01:1.0", "exp:-0.02:0.5", "power:0.8", "topk:4:1.5", "energy:0.9,rank:16",
    "exp:1e-05:1.0+norm", "energy:0.95->0.8@steps=0.0..0.6", "rank:4->16@layers=up_blocks|mid_block",
    "gd+norm@steps=0.2..1.0@layers=attn1", "rank:8,power:0.5+norm",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_str_parses_back_to_an_equal_spec(text):
    spec = parse_spec(text)
    assert parse_spec(str(spec)) == spec
    assert str(spec) == text  # these are already canonical
    assert hash(parse_spec(str(spec))) == hash(spec)


def test_parse_fills_defaults_and_normalises_spelling():
    assert parse_spec("exp:0.01") == parse_spec("exp:0.01:1.0")
    assert str(parse_spec(" energy : .9 , rank:16 ")) == "energy:0.9,rank:16"
    assert parse_spec("energy:0.9@steps=0..0.5").items[0].steps == (0.0, 0.5)
    assert parse_spec("energy:0.9@steps=0..1") == parse_spec("energy:0.9")


def test_parsed_fields():
    (item,) = parse_spec("topk:4:1.5+norm@layers=up").items
    assert item == StrategySpec("topk", (4, 1.5), norm=True, layers=("up",))
    assert isinstance(item.params[0], int)
    (ramp,) = parse_spec("energy:0.95->0.8").items
    assert ramp.params == (Ramp(0.95, 0.8),) and ramp.is_scheduled


BAD = [  # (spec, a fragment the error message must contain)
    ("bogus:1", "bogus"), ("energy", "missing parameter p"), ("energy:0", "0 < p <= 1"),
    ("energy:1.5", "energy:1.5"), ("rank:0", "k >= 1"), ("rank:2.5", "integer"), ("rank:x", "rank:x"),
    ("tau:-0.1", "tau:-0.1"), ("power:0", "gamma > 0"), ("topk:4", "missing parameter factor"),
    ("exp:nan", "exp:nan"), ("exp:1:2:3", "too many"), ("energy:0.9@steps=0.5..0.5", "steps"),
    ("energy:0.9@steps=1", "start..end"), ("energy:0.9@when=1", "when=1"),
    ("energy:0.9@layers=", "layer pattern"), ("energy:0.9,,rank:2", "empty"), ("", "empty"),
    ("energy:0.9->1.2", "0 < p <= 1"), ("energy:0.9,rank:q", "rank:q"), ("energy:0.9+nrm", "energy"),
]


@pytest.mark.parametrize("text,fragment", BAD)
def test_bad_specs_raise_naming_the_offender(text, fragment):
    with pytest.raises(SvdStoryError, match="bad spectral spec") as info:
        parse_spec(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_kind_restricts_names():
    assert parse_spec("energy:0.9", kind="zero") and parse_spec("none", kind="reweight")
    with pytest.raises(SvdStoryError, match="reweight strategy"):
        parse_spec("exp:0.1", kind="zero")
    with pytest.raises(SvdStoryError, match="zero strategy"):
        parse_spec("rank:4", kind="reweight")
    assert set(strategy_names("zero")) >= {"rank", "energy", "tau", "gd", "soft", "none"}
    assert "rank" not in strategy_names("reweight")


def test_direct_construction_validates_too():
    with pytest.raises(SvdStoryError, match="rank:0"):
        StrategySpec("rank", (0,))
    with pytest.raises(SvdStoryError, match="steps"):
        StrategySpec("rank", (2,), steps=(0.7, 0.2))
    assert StrategySpec("energy", (1,)).params == (1.0,)


def test_chain_applies_left_to_right():
    s = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    chain = parse_spec("energy:0.9,rank:2")
    assert torch.equal(chain(s, (8, 5)), keep_rank(keep_energy(s, 0.9), 2))
    reversed_order = parse_spec("topk:1:0.1,rank:1")  # the boost demotes the top value first
    assert reversed_order(s, (8, 5)).tolist() == [[0.0, 4.0, 0.0, 0.0, 0.0]]


def test_compose_concatenates_and_norm_refers_to_the_start():
    zero, reweight = parse_spec("rank:2", "zero"), parse_spec("exp:0.1+norm", "reweight")
    both = compose(zero, reweight)
    assert str(both) == "rank:2,exp:0.1:1.0+norm" and both == parse_spec(str(both))
    s = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    torch.testing.assert_close(both(s, (8, 4)).norm(), s.norm())


def test_spec_keeps_the_spectrum_dtype():
    s = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float16)
    assert parse_spec("exp:0.1")(s, (4, 3)).dtype == torch.float16


def test_ramped_spec_must_be_resolved_before_use():
    with pytest.raises(ValueError, match="resolve"):
        parse_spec("energy:0.9->0.5")(torch.ones(3), (4, 3))


def test_custom_strategy_registers_and_parses():
    register(StrategyDef("test_scale", "reweight", (ParamDef("c", float, lambda v: v > 0, "c > 0"),),
                         lambda s, shape, c: s * c, "multiply by c"))
    spec = parse_spec("test_scale:3", kind="reweight")
    assert spec(torch.tensor([1.0, 2.0]), (2, 2)).tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match="already registered"):
        register(StrategyDef("test_scale", "reweight", (), lambda s, shape: s, ""))


def test_spectral_spec_needs_items():
    with pytest.raises(ValueError):
        SpectralSpec(())
    assert parse_spec("none,none").is_unchanged and not parse_spec("none,rank:2").is_unchanged
