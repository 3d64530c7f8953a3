"""scripts/study_v2.py: every setting it benches parses, the rule that picks svd's default and each target's
best zeroing, the front, and the final stage built from the earlier stages' choices."""

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import study_v2  # noqa: E402

from svdstory.eval.methodspec import parse_method_specs  # noqa: E402
from svdstory.eval.report.data import BenchData  # noqa: E402


def bench_data(rows: dict[str, tuple[float, float, float]]) -> BenchData:
    """rows: method -> (identity_attr, background_agreement, prompt_alignment), two stories each."""
    values = {method: {story: {"identity_attr": ident + wobble, "background_agreement": bg, "prompt_alignment": align}
                       for story, wobble in (("s0", -0.01), ("s1", 0.01))}
              for method, (ident, bg, align) in rows.items()}
    return BenchData(Path("bench"), {}, [], list(rows), values)


def test_every_setting_of_every_stage_is_a_valid_method_spec():
    best = {"kv": "energy:0.9", "hidden": "rank:16", "attn": "gd"}
    specs = study_v2.sweep_methods() + study_v2.reweight_methods(best)
    parsed = parse_method_specs(specs)
    labels = [m.label for m in parsed]
    assert len(set(labels)) == len(labels) == len(specs)  # every setting its own name in the tables
    assert len(study_v2.sweep_methods()) == len(study_v2.BASELINES) + 3 * len(study_v2.ZEROING)


def test_the_rule_takes_the_highest_gain_that_leaks_no_more_than_consistory_and_keeps_the_prompt():
    rows = {"vanilla": (0.25, 0.30, 1.00), "consistory": (0.55, 0.35, 0.99),
            study_v2.label("kv", "rank:4"): (0.80, 0.50, 0.99),  # most identity, leaks more than consistory
            study_v2.label("kv", "energy:0.9"): (0.60, 0.34, 0.99),  # the rule's pick for kv
            study_v2.label("kv", "tau:0.3"): (0.70, 0.31, 0.90),  # clean, but loses the prompt
            study_v2.label("hidden", "gd"): (0.40, 0.40, 1.00)}  # hidden: nothing clean, so the best aligned
    choice = study_v2.choose(bench_data(rows))
    assert choice["best_zero"] == {"kv": "energy:0.9", "hidden": "gd"}  # attn: no setting benched
    assert choice["svd_default"] == study_v2.label("kv", "energy:0.9")
    assert choice["scores"]["consistory"]["gain"] == pytest.approx(0.30)
    assert choice["front"] == sorted([study_v2.label("kv", "rank:4"), study_v2.label("kv", "tau:0.3")])


def test_the_final_stage_runs_baselines_fronts_and_the_default_on_192_stories_with_two_seeds(tmp_path, capsys):
    best = {"kv": "energy:0.9", "hidden": "gd", "attn": "rank:16"}
    sweep = {"front": [study_v2.label("kv", "rank:4")], "best_zero": best, "svd_default": None}
    reweight = {"front": [study_v2.label("attn", "rank:16", "power:0.8")], "best_zero": {},
                "svd_default": study_v2.label("kv", "energy:0.9", "exp:0.01")}
    for stage, choice in (("sweep", sweep), ("reweight", reweight)):
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "choice.json").write_text(json.dumps(choice))
    assert study_v2.main(["final", "--out", str(tmp_path), "--dry-run"]) == 0
    command = capsys.readouterr().out.split()
    methods = [command[i + 1] for i, a in enumerate(command) if a == "--method"]
    assert "synthworld:192" in command and command[command.index("--seeds") + 1] == "2"
    assert methods[:len(study_v2.BASELINES)] == list(study_v2.BASELINES)
    assert methods[len(study_v2.BASELINES):] == [
        study_v2.svd_spec("kv", "rank:4"), study_v2.svd_spec("attn", "rank:16", "power:0.8"),
        study_v2.svd_spec("kv", "energy:0.9", "exp:0.01")]


def test_a_later_stage_without_the_earlier_ones_choice_says_so(tmp_path):
    with pytest.raises(SystemExit, match="sweep/choice.json is missing"):
        study_v2.main(["reweight", "--out", str(tmp_path), "--dry-run"])
