"""The bench takes stories with a reference photo: each method that takes one runs against it, vanilla from the
text beside it; a photo that cannot be read stops the suite before any unit runs."""
import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from svdstory import SamplingConfig
from svdstory.errors import SvdStoryError
from svdstory.eval.bench import BenchConfig, run_bench
from svdstory.eval.methodspec import parse_method_specs
from svdstory.eval.metrics import MetricConfig
from svdstory.eval.suites import load_suite
from svdstory.world import sample

STORY = {"id": "cat", "subject": "a cat", "scenes": ["in a forest", "in the snow"], "reference": "photos/cat.png"}


def suite(folder: Path, story: dict) -> Path:
    (folder / "photos").mkdir(exist_ok=True)
    Image.fromarray(sample(3, subject="cat", scene="beach", size=64).image).save(folder / "photos" / "cat.png")
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({"stories": [story]}))
    return path


def test_a_story_with_a_photo_runs_against_it(tmp_path, tiny):
    loaded = load_suite(str(suite(tmp_path, STORY)))
    item = loaded.stories[0]
    assert item["reference"] == str(tmp_path / "photos" / "cat.png")
    assert item["reference_prompt"] == "a photo of SUBJECT"
    metrics = MetricConfig(("clip-t",), clip_model="tiny")
    config = BenchConfig(loaded, tuple(parse_method_specs(("vanilla", "shared"))), tmp_path / "b", metrics,
                         SamplingConfig(steps=2, height=32, width=32), model="tiny", device="cpu")
    records = {r["method"]: r for r in run_bench(config)}
    assert records["shared"]["story"]["reference"] == item["reference"]
    assert records["shared"]["seeds"] == records["vanilla"]["seeds"]
    shared = [Image.open(tmp_path / "b" / p).tobytes() for p in records["shared"]["images"]]
    assert len(shared) == 2
    assert json.loads((tmp_path / "b" / "bench.json").read_text())["fingerprint"]["suite"]


@pytest.mark.parametrize("change,words", [
    ({"reference": "photos/none.png"}, "story 'cat': reference"),
    ({"reference": 3}, "reference and reference_prompt must be text"),
])
def test_a_bad_reference_stops_the_suite_when_it_loads(tmp_path, change, words):
    with pytest.raises(SvdStoryError, match=words):
        load_suite(str(suite(tmp_path, {**STORY, **change})))
