"""scripts/v2_bars.py: the issue's bars from hand-made bench records and eval_minisd reports (pass, fail,
per family, intervals, too few stories, a world v1 evaluator), the plain-style stories, `bench --evaluator`,
and one run end to end on a tiny model and a tiny v2 evaluator."""

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import v2_bars  # noqa: E402

V2_KEYS = ("background_agreement", "layout_agreement")
CHANCE = {"identity_attr": 0.229, "background_agreement": 0.278, "layout_agreement": 0.333}


def story(k: int) -> dict:
    family = "animal" if k % 2 == 0 else "object"
    return {"id": f"s{k:03d}", "subject": "a cat" if family == "animal" else "a bus", "category": family,
            "tokens": ["cat"], "style": "", "scenes": ["in a forest", "on a beach", "at night", "in a city"],
            "seeds": [1, 2, 3, 4]}


def good(method: str, k: int, family: str) -> dict:
    """Story metrics under which every bar passes; a small spread per story gives the intervals width."""
    wobble = 0.01 * (k % 3)
    m = {f"{name}_chance": value for name, value in CHANCE.items()}
    m.update({name: value + wobble for name, value in CHANCE.items()}, prompt_alignment=0.95)
    if method == "consistory":
        m.update(identity_attr=0.6 + wobble, background_agreement=0.33)
        m.update(mask_auroc=0.9, mask_iou=0.6) if family == "animal" else m.update(mask_auroc=0.3, mask_iou=0.1)
    if method == "shared":
        m.update(background_agreement=0.45 + 2 * wobble)
    return m


def write_bench(root: Path, n: int, metrics) -> Path:
    """A bench folder of hand-made records: `metrics(method, k, family)` gives each story's metrics."""
    for method in v2_bars.METHODS:
        for k in range(n):
            item = story(k)
            record = {"format": 1, "unit": item["id"], "method": method, "story_index": k, "seed_index": 0,
                      "story": item, "metrics": metrics(method, k, item["category"])}
            path = root / "records" / method / f"{item['id']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
    return root


def bars(root: Path, world: int = 2) -> dict:
    from svdstory.eval.report.data import load_bench

    return {bar.key: v2_bars.judge(bar, m) for bar, m in v2_bars.bench_bars(load_bench(root), world)}


def test_every_bench_bar_passes_on_good_records_with_intervals(tmp_path):
    rows = bars(write_bench(tmp_path, 48, good))
    gated = {k: r for k, r in rows.items() if r["threshold"]}
    assert {r["status"] for r in gated.values()} == {"pass"}, {k: r["status"] for k, r in gated.items()}
    for row in rows.values():
        assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["n"] > 0
    assert rows["leakage.shared"]["n"] == 48 and rows["leakage.shared"]["value"] == pytest.approx(0.45 - 0.278 + 0.01)
    assert rows["leakage.shared"]["ci_low"] < rows["leakage.shared"]["ci_high"]  # stories differ: a real interval
    assert rows["consistory.identity.animal"]["n"] == 24  # one family's stories only
    assert rows["vanilla.identity_attr"]["value"] == pytest.approx(0.01)  # wobble 0, 0.01, 0.02 on average


def test_object_stories_are_reported_whatever_they_show(tmp_path):
    rows = bars(write_bench(tmp_path, 8, good))
    assert rows["localisation.auroc.object"]["value"] == pytest.approx(0.3)
    assert rows["localisation.auroc.object"]["status"] == "reported"
    assert rows["localisation.auroc.animal"]["status"] == "pass"


def test_failing_records_fail_their_bars_and_too_few_stories_say_so(tmp_path):
    def bad(method, k, family):
        m = good(method, k, family)
        if method == "consistory" and family == "animal":
            m.update(identity_attr=0.4, mask_auroc=0.2)  # a gain of 0.17 over vanilla: below 0.25
        if method == "vanilla":
            m.update(layout_agreement=0.45)  # 0.117 above chance
        if method == "1p1s":
            m.update(prompt_alignment=0.8)
        return m

    rows = bars(write_bench(tmp_path, 12, bad))
    for key in ("consistory.identity.animal", "localisation.auroc.animal", "vanilla.layout_agreement",
                "1p1s.alignment"):
        assert rows[key]["status"] == "fail" and rows[key]["meets_threshold"] is False, key
    assert rows["localisation.iou.animal"]["status"] == "pass"
    leak = rows["leakage.shared"]
    assert leak["status"] == "too few" and leak["meets_threshold"] is True and leak["n"] == 12 and leak["need"] == 48


def test_a_world_v1_evaluator_leaves_the_v2_bars_not_measurable(tmp_path):
    def v1(method, k, family):
        return {key: v for key, v in good(method, k, family).items() if not key.startswith(V2_KEYS)}

    rows = bars(write_bench(tmp_path, 6, v1), world=1)
    for key in ("vanilla.background_agreement", "vanilla.layout_agreement", "leakage.shared", "leakage.consistory"):
        assert rows[key]["status"] == "not measurable" and "world v1" in rows[key]["note"], key
    assert rows["vanilla.identity_attr"]["status"] == "pass" and rows["1p1s.alignment"]["status"] == "pass"


def test_generation_bars_read_eval_minisd_and_need_500_images():
    entropy = {"color": 0.96, "pattern": 0.8, "accessory": 0.9, "eyes": 1.0, "props_any": 0.3}
    report = {"n": 512, "results": {"cfg5.0": {"plain": {"subject": 0.99, "scene": 0.9},
                                               "plain_attribute_entropy": entropy}}}
    v1_heads = {"identity": ["color", "pattern", "accessory", "eyes"], "background": [], "layout": []}
    rows = {b.key: v2_bars.judge(b, m) for b, m in v2_bars.generation_bars(report, v1_heads)}
    assert rows["generation.subject"]["status"] == "pass" and rows["generation.scene"]["status"] == "fail"
    assert rows["generation.entropy.identity.pattern"]["status"] == "fail"
    assert rows["generation.entropy.background"]["status"] == "not measurable"
    small = {b.key: v2_bars.judge(b, m) for b, m in v2_bars.generation_bars({**report, "n": 16}, v1_heads)}
    assert small["generation.subject"]["status"] == "too few"


def test_markdown_has_a_row_per_bar(tmp_path):
    result = {"model": "m", "evaluator": "e", "evaluator_world": 2, "stories": 48, "images": 512, "steps": 25,
              "methods": list(v2_bars.METHODS), "counts": {"pass": 1}, "all_pass": True,
              "bars": list(bars(write_bench(tmp_path, 4, good)).values())}
    text = v2_bars.markdown(result)
    assert text.count("\n| ") == len(result["bars"]) + 2  # with the header and its rule
    assert "too few (meets it)" in text


def test_plain_stories_are_the_suites_plain_style_ones():
    stories = v2_bars.plain_stories(6)
    assert len(stories) == 6 and all(s["style"] == "" and s["truth"]["style"] == "" for s in stories)
    assert [s["category"] for s in stories] == ["animal", "object"] * 3
    assert all(len(s["scenes"]) == 4 for s in stories)


def test_a_folder_measured_with_other_settings_is_refused(tmp_path):
    args = v2_bars.parse_args(["--model", "m", "--evaluator", "e", "--out", str(tmp_path), "--stories", "2"])
    v2_bars.claim(tmp_path, args, v2_bars.plain_stories(2))
    v2_bars.claim(tmp_path, args, v2_bars.plain_stories(2))  # the same settings resume
    args.images = 16
    with pytest.raises(SystemExit, match="other settings"):
        v2_bars.claim(tmp_path, args, v2_bars.plain_stories(2))


def tiny_evaluator(folder: Path, world: int = 2) -> Path:
    import torch

    from svdstory.mini.evaluator import Evaluator, EvaluatorConfig, EvaluatorNet

    torch.manual_seed(0)
    cfg = EvaluatorConfig.for_world(world, channels=(8, 8, 8, 8), decoder_channels=8, embed_dim=8, input_size=64)
    Evaluator(EvaluatorNet(cfg), cfg).save(folder)
    return folder


def test_bench_reads_the_evaluator_it_is_given(tmp_path):
    from svdstory.eval.metrics import MetricConfig, build_scorers

    folder = str(tiny_evaluator(tmp_path / "ev"))
    config = MetricConfig(("synthworld",), evaluator=folder)
    (scorer,) = build_scorers(config)
    assert scorer.evaluator.cfg.world == 2 and scorer.heads is not None
    assert config.describe()["evaluator"] == folder and "evaluator" not in MetricConfig(("synthworld",)).describe()


@pytest.mark.slow
def test_end_to_end_on_a_tiny_model_and_a_tiny_v2_evaluator(tmp_path, monkeypatch):
    from svdstory.tiny import tiny_pipeline

    model = tmp_path / "model"
    tiny_pipeline().save_pretrained(model)
    (model / "svdstory.json").write_text(json.dumps({"steps": 2, "guidance": 5.0}))
    for part, key, value in (("unet", "sample_size", 32), ("tokenizer", "model_max_length", 32)):
        path = model / part / ("config.json" if part == "unet" else "tokenizer_config.json")
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))  # 64 px: the evaluator's least
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: one thread each, as in conftest
    out = tmp_path / "out"
    argv = ["--model", str(model), "--evaluator", str(tiny_evaluator(tmp_path / "ev")), "--out", str(out),
            "--stories", "2", "--images", "4", "--device", "cpu"]
    assert v2_bars.main(argv) == 0
    result = json.loads((out / "bars.json").read_text())
    statuses = {r["bar"]: r["status"] for r in result["bars"]}
    assert "not measurable" not in statuses.values() and statuses["leakage.shared"] == "too few"
    assert result["evaluator_world"] == 2 and "generation.entropy.layout.facing" in statuses
    assert (out / "bars.md").read_text().startswith("# Issue 18 bars")
    assert len(list((out / "bench" / "records").glob("*/*.json"))) == 2 * len(v2_bars.METHODS)
    before = (out / "generation.json").stat().st_mtime_ns
    assert v2_bars.main(argv) == 0  # the rerun finds everything done
    assert (out / "generation.json").stat().st_mtime_ns == before
