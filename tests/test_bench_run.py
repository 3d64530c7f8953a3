"""The bench runner on the tiny model: resumability, config checks, method specs and suites."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.eval import bench as bench_module
from svdstory.eval.bench import BenchConfig, run_bench
from svdstory.eval.methodspec import parse_method_spec, parse_method_specs
from svdstory.eval.metrics import MetricConfig
from svdstory.eval.suites import SEED_STRIDE, load_suite, to_story

STORIES = [
    {"id": "cat", "category": "animal", "subject": "a cat", "scenes": ["on a beach", "in a city", "in snow"]},
    {"id": "bus", "category": "object", "subject": "a red bus", "scenes": ["in a forest", "at night"]},
    {"id": "dog", "category": "animal", "subject": "a dog", "scenes": ["in a room", "on a beach"]},
]


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"stories": STORIES}))
    return path


def config(suite_file, out, methods=("vanilla", "c=consistory?query_mix_until=0.5"), steps=2, seeds=1, **kw):
    from svdstory import SamplingConfig

    metrics = MetricConfig(("clip-t", "clip-i"), clip_model="tiny")
    return BenchConfig(load_suite(str(suite_file)), tuple(parse_method_specs(methods)), Path(out), metrics,
                       SamplingConfig(steps=steps, height=32, width=32), seeds=seeds, model="tiny", device="cpu", **kw)


def snapshot(out: Path) -> dict:
    """Everything a bench's results are: tables (minus timings) and every image's pixels."""
    results = json.loads((out / "results.json").read_text())
    images = {p.relative_to(out).as_posix(): np.asarray(Image.open(p)) for p in sorted(out.glob("images/**/*.png"))}
    return {"per_story": results["per_story"], "per_image": results["per_image"], "images": images}


def assert_same(a: dict, b: dict):
    assert a["per_story"] == b["per_story"] and a["per_image"] == b["per_image"]
    assert a["images"].keys() == b["images"].keys()
    for key in a["images"]:
        assert np.array_equal(a["images"][key], b["images"][key]), key


def test_interrupted_bench_resumes_to_the_same_results(tmp_path, suite_file, tiny, monkeypatch):
    full = config(suite_file, tmp_path / "full")
    records = run_bench(full)
    assert len(records) == 6 and {r["method"] for r in records} == {"vanilla", "c"}
    calls = []
    real = bench_module.generate

    def crash_on_fourth(*args, **kwargs):
        calls.append(args[1].subject)
        if len(calls) == 4:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_module, "generate", crash_on_fourth)
    part = config(suite_file, tmp_path / "part")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_bench(part)
    assert len(list((tmp_path / "part" / "records").glob("*/*.json"))) == 3
    calls.clear()
    run_bench(part)
    assert len(calls) == 3  # only the three unfinished units ran again
    assert_same(snapshot(tmp_path / "full"), snapshot(tmp_path / "part"))
    calls.clear()
    run_bench(part)
    assert calls == []  # all done: nothing regenerates


def test_layout_tables_and_bench_json(tmp_path, suite_file, tiny):
    out = tmp_path / "b"
    run_bench(config(suite_file, out, methods=("vanilla",), seeds=2, limit=2))
    assert sorted(p.name for p in (out / "images" / "vanilla").iterdir()) == ["bus", "bus.s1", "cat", "cat.s1"]
    assert sorted(p.name for p in (out / "images" / "vanilla" / "cat").iterdir()) == ["00.png", "01.png", "02.png"]
    record = json.loads((out / "records" / "vanilla" / "cat.s1.json").read_text())
    base = load_suite(str(suite_file)).stories[0]["seeds"]
    assert record["seeds"] == [s + SEED_STRIDE for s in base]
    assert set(record["metrics"]) == {"clip_t", "clip_i"} and len(record["per_image"]) == 3
    header = (out / "per_story.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["method", "story", "seed_index", "category", "subject", "n_images"]
    assert len((out / "per_image.csv").read_text().splitlines()) == 1 + 2 * (3 + 2)
    saved = json.loads((out / "bench.json").read_text())
    assert saved["fingerprint"]["methods"]["vanilla"]["config"] == {"scheduler": "default"}
    assert saved["fingerprint"]["metrics"]["clip_model"] == "tiny" and saved["versions"]["torch"]


def test_changed_config_is_refused_and_new_methods_may_join(tmp_path, suite_file, tiny, monkeypatch):
    out = tmp_path / "b"
    run_bench(config(suite_file, out, methods=("c=consistory?query_mix_until=0.5",), limit=1))
    with pytest.raises(SvdStoryError, match=r"sampling\.steps: 2 there, 3 now"):
        run_bench(config(suite_file, out, methods=("c=consistory?query_mix_until=0.5",), steps=3, limit=1))
    with pytest.raises(SvdStoryError, match=r"methods\.c\.config\.query_mix_until"):
        run_bench(config(suite_file, out, methods=("c=consistory?query_mix_until=0.6",), limit=1))
    changed = tmp_path / "other.yaml"
    changed.write_text(yaml.safe_dump({"stories": [{**STORIES[0], "subject": "a big cat"}] + STORIES[1:]}))
    with pytest.raises(SvdStoryError, match=r"suite\.digest"):
        run_bench(config(changed, out, methods=("c=consistory?query_mix_until=0.5",), limit=1))
    records = run_bench(config(suite_file, out, methods=("c=consistory?query_mix_until=0.5", "vanilla"), limit=1))
    assert sorted(r["method"] for r in records) == ["c", "vanilla"]
    assert set(json.loads((out / "bench.json").read_text())["fingerprint"]["methods"]) == {"c", "vanilla"}


def test_method_specs():
    spec = parse_method_spec("svd?target=kv&zero=energy:0.95->0.8@steps=0..0.6,rank:16&parts=up,mid")
    assert spec.name == "svd" and dict(spec.options)["zero"] == "energy:0.95->0.8@steps=0..0.6,rank:16"
    assert spec.config().parts == ("up", "mid") and spec.label.startswith("svd_target-kv_zero-energy")
    assert parse_method_spec("strong=svd?zero=rank:4").label == "strong"
    assert parse_method_spec("vanilla").label == "vanilla"
    long = parse_method_spec("svd?zero=energy:0.95->0.8@steps=0..0.6@layers=up_blocks|mid_block,rank:16"
                             "&reweight=exp:0.01:1.0+norm")
    assert len(long.label) <= 64
    with pytest.raises(SvdStoryError, match="unknown option 'nope'"):
        parse_method_spec("svd?nope=1")
    with pytest.raises(SvdStoryError, match="not KEY=VALUE"):
        parse_method_spec("svd?target")
    with pytest.raises(SvdStoryError, match="repeat"):
        parse_method_specs(["vanilla", "vanilla"])


def test_suites(tmp_path):
    real = load_suite("real")
    assert len(real.stories) >= 60
    categories = {s["category"] for s in real.stories}
    assert {"animal", "human", "object", "food", "fantasy", "nature"} <= categories
    assert len({s["id"] for s in real.stories}) == len(real.stories)
    for story in real.stories:
        assert 5 <= len(story["scenes"]) <= 10 and len(set(story["scenes"])) == len(story["scenes"])
        assert all(t in story["subject"].split() for t in story["tokens"]), story["id"]
    assert real.stories == load_suite("real").stories  # default seeds are stable
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"stories": [{"id": "a b", "subject": "a cat", "scenes": ["x"]}]}))
    with pytest.raises(SvdStoryError, match="id 'a b'"):
        load_suite(str(bad))
    with pytest.raises(SvdStoryError, match="neither a file nor a built-in"):
        load_suite("no-such-suite")
    story = to_story({"subject": "a cat", "scenes": ["x", "y"], "tokens": ["cat"], "style": "", "seeds": [5, 6]}, 2)
    assert story.seeds == (5 + 2 * SEED_STRIDE, 6 + 2 * SEED_STRIDE)


def test_synthworld_suite_is_the_world_v2_suite():
    suite = load_suite("synthworld:4")
    assert len(suite.stories) == 4 and suite.is_synthworld
    assert all(s["truth"]["world"] == 2 for s in suite.stories)
    alias = load_suite("synthworld-v2:4")
    assert alias.stories == suite.stories and alias.digest == suite.digest
    with pytest.raises(SvdStoryError, match="whole number"):
        load_suite("synthworld:many")


def test_missing_synthworld_module_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "svdstory.eval.synthworld", None)  # import now raises ImportError
    with pytest.raises(SvdStoryError, match="svdstory.eval.synthworld"):
        load_suite("synthworld:3")


def test_bench_command_line(tmp_path, suite_file, tiny, capsys):
    from svdstory.cli import main

    def argv(steps):
        return ["bench", "--suite", str(suite_file), "--method", "vanilla", "--limit", "1", "--steps", str(steps),
                "--size", "32", "--model", "tiny", "--device", "cpu", "--metrics", "clip-t", "--clip-model", "tiny",
                "--out", str(tmp_path / "b")]

    assert main(argv(2)) == 0
    captured = capsys.readouterr()
    assert "clip_t" in captured.out and "vanilla" in captured.out
    assert captured.err == ""  # the progress bar shows on a terminal only
    assert main(argv(2)) == 0  # resumes: nothing left to do
    assert main(argv(3)) == 2
    assert "another config" in capsys.readouterr().err


def test_scores_of_several_scorers_merge_by_image():
    from types import SimpleNamespace

    from svdstory.eval.bench import score_unit

    class Scorer:
        def __init__(self, key, base):
            self.key, self.base = key, base

        def score(self, story, images, masks=None, maps=None):
            rows = [{"image": i, self.key: self.base + i} for i in range(len(images))]
            return rows, {self.key: self.base + 0.5, "masks_seen": masks is not None, "maps_seen": maps is not None}

    result = SimpleNamespace(images=[object(), object()], masks=[["m"], ["m"]], maps=None)
    rows, metrics = score_unit([Scorer("a", 1.0), Scorer("b", 10.0)], {"id": "x"}, result)
    assert rows == [{"image": 0, "a": 1.0, "b": 10.0}, {"image": 1, "a": 2.0, "b": 11.0}]
    assert metrics == {"a": 1.5, "b": 10.5, "masks_seen": True, "maps_seen": False}


def test_synthworld_metrics_need_the_synthworld_module(monkeypatch):
    import sys

    from svdstory.eval.metrics import build_scorers

    monkeypatch.setitem(sys.modules, "svdstory.eval.synthworld", None)
    with pytest.raises(SvdStoryError, match="--metrics synthworld"):
        build_scorers(MetricConfig(("synthworld",)))


def test_an_option_added_later_counts_at_its_default(tmp_path, suite_file, tiny, monkeypatch):
    """A folder recorded before `shared` had `share_uncond` (and before bench.json's "identity" was named
    "fingerprint") resumes; a non-default value is refused."""
    out = tmp_path / "b"
    run_bench(config(suite_file, out, methods=("shared",), limit=1))
    saved = json.loads((out / "bench.json").read_text())
    saved["identity"] = saved.pop("fingerprint")  # as an older version wrote it
    del saved["identity"]["methods"]["shared"]["config"]["share_uncond"]
    (out / "bench.json").write_text(json.dumps(saved))
    assert [r["method"] for r in run_bench(config(suite_file, out, methods=("shared",), limit=1))] == ["shared"]
    with pytest.raises(SvdStoryError, match=r"methods\.shared\.config\.share_uncond"):
        run_bench(config(suite_file, out, methods=("shared=shared?share_uncond=false",), limit=1))


def test_undefined_metrics_are_written_as_null(tmp_path, suite_file, tiny, monkeypatch):
    """A metric that is undefined for a story (NaN) is null in every JSON file, which stays valid JSON."""
    class Undefined:
        def score(self, story, images, masks=None, maps=None):
            return [{"image": i, "u": float("nan")} for i in range(len(images))], {"u": float("nan"), "v": 1.0}

    monkeypatch.setattr(bench_module, "build_scorers", lambda metrics, device: [Undefined()])
    out = tmp_path / "b"
    run_bench(config(suite_file, out, methods=("vanilla",), steps=1, limit=1))
    record = json.loads(next((out / "records").glob("*/*.json")).read_text())
    assert record["metrics"] == {"u": None, "v": 1.0} and record["per_image"][0]["u"] is None
    results = json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert results["means"] == {"vanilla": {"v": 1.0}}


def test_a_bench_on_a_dit_runs_each_method_at_that_models_defaults(tmp_path, suite_file):
    """`shared` defaults to parts=up on a UNet, which a DiT has not: on tiny FLUX the bench takes FLUX's defaults."""
    from svdstory import SamplingConfig

    cfg = BenchConfig(load_suite(str(suite_file)), tuple(parse_method_specs(["shared", "svd"])), tmp_path / "b",
                      MetricConfig(("clip-t",), clip_model="tiny"), SamplingConfig(steps=2, height=32, width=32),
                      model="tiny-flux", device="cpu", limit=1)
    records = run_bench(cfg)
    assert {r["method"] for r in records} == {"shared", "svd"} and all(len(r["images"]) == 3 for r in records)
