"""Resolve once: a run looks its method name up once and parses each spectral spec string once, wherever it enters
(the command line, `generate`, `run_story` with progress and anchors first, a story from a photo)."""
import sys

import pytest
from PIL import Image

import svdstory.methods.registry as registry
import svdstory.spectral as spectral
from svdstory import SamplingConfig, Story, generate
from svdstory.cli import main
from svdstory.generate import run_story
from svdstory.reference import Reference
from svdstory.world import sample

OPTIONS = {"zero": "rank:2", "reweight": "exp:0.01"}
STORY = Story("a cat", ("on a beach", "in a city", "in snow"))


@pytest.fixture
def counts(monkeypatch):
    """Calls of the method-name resolver and of the spec parser, through every module that holds either."""
    found = {"resolve": [], "parse": []}

    def counting(original, log):
        def counted(*args, **kwargs):
            log.append(args[0])
            return original(*args, **kwargs)
        return counted

    for what, original in (("resolve", registry.get_method), ("parse", spectral.parse_spec)):
        wrapped = counting(original, found[what])
        for module in [m for name, m in sys.modules.items() if name.startswith("svdstory")]:
            for attribute, value in list(vars(module).items()):
                if value is original:
                    monkeypatch.setattr(module, attribute, wrapped)
    return found


def test_command_line(counts, tmp_path):
    argv = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "2", "--height", "32", "--width", "32",
            "--method", "svd", "--subject", "a cat", "--scene", "on a beach", "--scene", "in a city",
            "--set", "zero=rank:2", "--set", "reweight=exp:0.01", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert counts == {"resolve": ["svd"], "parse": ["rank:2", "exp:0.01"]}


@pytest.mark.parametrize("kind", ["sd", "flux"])
def test_generate(counts, runs, kind):
    generate(runs.model(kind), STORY, "svd", OPTIONS, SamplingConfig(steps=2, height=32, width=32))
    assert counts == {"resolve": ["svd"], "parse": ["rank:2", "exp:0.01"]}


def test_run_story_with_progress_and_anchors_first(counts, runs):
    run_story(runs.model("sd"), STORY, "svd", OPTIONS, SamplingConfig(steps=2, height=32, width=32),
              anchors_first=True, progress=lambda done, total: None)
    assert counts == {"resolve": ["svd"], "parse": ["rank:2", "exp:0.01"]}


def test_a_story_from_a_photo(counts, runs, tmp_path):
    """The photo's anchor pass and every scene against it: one lookup, each spec parsed once (generate and the
    command line)."""
    photo = Image.fromarray(sample(3, subject="cat", scene="beach", size=64).image)
    generate(runs.model("sd"), STORY, "svd", OPTIONS, SamplingConfig(steps=2, height=32, width=32),
             reference=Reference(photo))
    assert counts == {"resolve": ["svd"], "parse": ["rank:2", "exp:0.01"]}
    photo.save(tmp_path / "cat.png")
    argv = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "2", "--height", "32", "--width", "32",
            "--method", "svd", "--subject", "a cat", "--scene", "on a beach", "--reference", str(tmp_path / "cat.png"),
            "--set", "zero=rank:2", "--set", "reweight=exp:0.01", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert counts == {"resolve": ["svd", "svd"], "parse": ["rank:2", "exp:0.01"] * 2}
