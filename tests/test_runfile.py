"""run.json read back (svdstory.runfile): what `svdstory rerun` and the web UI's Load run.json both use."""
import json
from dataclasses import asdict

import pytest

from svdstory import SamplingConfig, Story
from svdstory.errors import SvdStoryError
from svdstory.methods.configs import builtin_config
from svdstory.runfile import RunFile, read_run_file

STORY = Story("a red bus", ("in a city", "at night"), ("bus",), "a photo of", (4, 9))
SAMPLING = SamplingConfig(steps=3, guidance=4.0, height=32, width=32, seed=4, negative_prompt="blurry",
                          freeu=(0.6, 0.4, 1.1, 1.2))
CONFIG = builtin_config("svd")(parts=("up", "mid"), steps=(0.0, 0.5))


def record(**extra) -> dict:
    """A run.json as save_result writes it (tuples become lists)."""
    return json.loads(json.dumps({"method": "svd", "config": asdict(CONFIG), "sampling": asdict(SAMPLING),
                                  "story": asdict(STORY), "model": "bundled:minisd", "revision": None,
                                  "device": "cpu", "dtype": "float32", "seeds": [4, 9], "versions": {}, **extra}))


def test_a_run_json_reads_back_as_the_run_it_records(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(record(anchors_first=True, anchor_batch=1)))
    run = read_run_file(tmp_path / "run.json")
    assert run == RunFile(STORY, "svd", asdict(CONFIG), SAMPLING, "bundled:minisd", None, "cpu", "float32",
                          anchors_first=True, anchor_batch=1)
    assert builtin_config("svd")(**run.options) == CONFIG  # the config's tuples, not JSON's lists


@pytest.mark.parametrize("extra,message", [
    ({"anchor_batch": 0}, "anchor_batch must be a whole number of at least 1, got 0"),
    ({"story": {"subject": "a cat", "scenes": []}}, "the story has no scenes"),
    ({"sampling": {"steps": 0}}, "--steps must be at least 1"),
    ({"config": [1]}, "AttributeError"),
])
def test_a_record_svdstory_cannot_repeat_fails_in_one_line_naming_the_file(tmp_path, extra, message):
    (tmp_path / "run.json").write_text(json.dumps(record(**extra)))
    with pytest.raises(SvdStoryError) as err:
        read_run_file(tmp_path / "run.json", "upload.json")
    said = str(err.value)
    assert said.startswith("'upload.json' is not a run record svdstory can repeat") and message in said
    assert "\n" not in said
