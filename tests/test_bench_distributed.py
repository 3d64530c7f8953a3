"""Two CPU processes (torchrun-style environment, gloo through accelerate.PartialState) give the same
results as one process, story for story, in one merged folder. Runs in CI: tiny model, 2 stories, 2 steps."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
STORIES = [
    {"id": "cat", "category": "animal", "subject": "a cat", "scenes": ["on a beach", "in a city"]},
    {"id": "bus", "category": "object", "subject": "a red bus", "scenes": ["in a forest", "at night"]},
]


def bench_args(suite: Path, out: Path) -> list[str]:
    return ["bench", "--suite", str(suite), "--method", "vanilla", "--method", "c=consistory?query_mix_until=0.5",
            "--steps", "2", "--size", "32", "--model", "tiny", "--metrics", "clip-t,clip-i", "--clip-model", "tiny",
            "--out", str(out)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], world: int = 2) -> None:
    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
           "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen([sys.executable, "-m", "svdstory", *args], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(world)]
    try:
        outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]


def load(out: Path):
    stories = {(r["method"], r["story"]): r for r in json.loads((out / "results.json").read_text())["per_story"]}
    images = {p.relative_to(out).as_posix(): np.asarray(Image.open(p), dtype=np.int16)
              for p in sorted(out.glob("images/**/*.png"))}
    return stories, images


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, sd_model, monkeypatch):
    import svdstory.models
    from svdstory.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"stories": STORIES}))
    monkeypatch.setattr(svdstory.models, "load_model", lambda *a, **k: sd_model)
    assert main(bench_args(suite, tmp_path / "one") + ["--device", "cpu"]) == 0
    launch(bench_args(suite, tmp_path / "two"))

    workers = {json.loads(p.read_text())["story"]["id"]: json.loads(p.read_text())["worker"]
               for p in (tmp_path / "two" / "records").glob("*/*.json")}
    assert workers == {"cat": 0, "bus": 1}  # story index modulo world size
    one_stories, one_images = load(tmp_path / "one")
    two_stories, two_images = load(tmp_path / "two")
    assert one_stories.keys() == two_stories.keys() and len(one_stories) == 4
    for key, row in one_stories.items():
        for metric in ("clip_t", "clip_i"):
            assert two_stories[key][metric] == pytest.approx(row[metric], abs=1e-4), (key, metric)
    assert one_images.keys() == two_images.keys()
    for name, pixels in one_images.items():
        assert np.abs(pixels - two_images[name]).max() <= 2, name  # thread counts may move a pixel by one
    assert json.loads((tmp_path / "two" / "bench.json").read_text())["processes"] == 2
