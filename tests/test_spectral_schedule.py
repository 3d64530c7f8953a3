"""Schedules: step ranges, ramps and layer filters resolved per call."""

import pytest

from svdstory.spectral import active_steps, parse_spec, resolve

LAYER = "up_blocks.1.attentions.0.transformer_blocks.0.attn1"


@pytest.mark.parametrize("num_steps", [1, 7, 50])
def test_adjacent_ranges_partition_the_run(num_steps):
    first, second = active_steps((0.0, 0.5), num_steps), active_steps((0.5, 1.0), num_steps)
    assert sorted([*first, *second]) == list(range(num_steps))
    assert list(active_steps((0.0, 1.0), num_steps)) == list(range(num_steps))


def test_active_steps_are_the_fraction_range():
    assert list(active_steps((0.2, 0.6), 10)) == [2, 3, 4, 5]
    assert list(active_steps((0.91, 0.99), 10)) == []


def test_step_range_gates_the_item():
    spec = parse_spec("energy:0.9@steps=0.2..0.6,exp:0.01")
    assert str(resolve(spec, 3, 10, LAYER)) == "energy:0.9,exp:0.01:1.0"
    assert str(resolve(spec, 6, 10, LAYER)) == "exp:0.01:1.0"


def test_ramp_runs_from_start_to_end_over_the_active_steps():
    spec = parse_spec("energy:0.95->0.75@steps=0.5..1.0")
    values = [resolve(spec, step, 10, LAYER).items[0].params[0] for step in range(5, 10)]
    assert values[0] == 0.95 and values[-1] == 0.75
    assert values == pytest.approx([0.95, 0.9, 0.85, 0.8, 0.75])
    assert resolve(spec, 4, 10, LAYER) is None


def test_integer_ramp_rounds_to_integers():
    spec = parse_spec("rank:2->6")
    ranks = [resolve(spec, step, 5, LAYER).items[0].params[0] for step in range(5)]
    assert ranks == [2, 3, 4, 5, 6] and all(isinstance(r, int) for r in ranks)


def test_single_step_run_uses_the_start_value():
    assert resolve(parse_spec("tau:0.1->0.5"), 0, 1, LAYER).items[0].params == (0.1,)


def test_layer_filter_matches_substrings():
    spec = parse_spec("gd@layers=mid_block|up_blocks.1,rank:8+norm")
    assert str(resolve(spec, 0, 4, LAYER)) == "gd,rank:8+norm"
    assert str(resolve(spec, 0, 4, "down_blocks.0.attentions.0.transformer_blocks.0.attn1")) == "rank:8+norm"


def test_none_when_nothing_applies():
    assert resolve(parse_spec("none"), 0, 10, LAYER) is None
    assert resolve(parse_spec("rank:4@layers=mid_block"), 0, 10, LAYER) is None
    assert resolve("rank:4@steps=0.5..1", 0, 10, LAYER) is None  # strings are parsed too


def test_resolved_spec_is_unscheduled_and_callable():
    resolved = resolve(parse_spec("energy:0.9->0.8@steps=0..0.5@layers=up"), 2, 10, LAYER)
    assert not resolved.is_scheduled


def test_step_outside_the_run_is_an_error():
    with pytest.raises(ValueError):
        resolve(parse_spec("rank:4"), 10, 10, LAYER)
