"""Writes tests/data/bench_small: a hand-made bench folder for the report tests (values chosen by hand).

Two methods (alpha, beta), four stories (two animals, two objects), three 16x16 images each, and one
extra seed of alpha/cat, so that seed averaging is exercised. Run from the repository root."""
import json
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).parent / "bench_small"
STORIES = {"cat": "animal", "dog": "animal", "bus": "object", "mug": "object"}
# (method, story, seed index) -> (clip_t, clip_i, dreamsim)
VALUES = {("alpha", "cat", 0): (0.30, 0.90, 0.20), ("alpha", "cat", 1): (0.30, 0.80, 0.30),
          ("alpha", "dog", 0): (0.28, 0.85, 0.25), ("alpha", "bus", 0): (0.32, 0.80, 0.30),
          ("alpha", "mug", 0): (0.26, 0.70, 0.40),
          ("beta", "cat", 0): (0.31, 0.80, 0.30), ("beta", "dog", 0): (0.27, 0.80, 0.35),
          ("beta", "bus", 0): (0.32, 0.75, 0.35), ("beta", "mug", 0): (0.25, 0.60, 0.50)}
COLORS = {"alpha": (200, 60, 60), "beta": (60, 60, 200)}


def main():
    methods = {"alpha": {"name": "vanilla", "spec": "alpha=vanilla", "config": {"scheduler": "default"}},
               "beta": {"name": "consistory", "spec": "beta=consistory", "config": {"scheduler": "ddim"}}}
    identity = {"format": 1, "suite": {"digest": "handmade", "stories": 4}, "model": "tiny", "dtype": "float32",
                "sampling": {"steps": 2}, "metrics": {"metrics": ["clip-t", "clip-i", "dreamsim"]}, "methods": methods}
    (ROOT / "records").mkdir(parents=True, exist_ok=True)
    # "identity": what bench.json called the fingerprint before; keeps the reading of older folders tested
    (ROOT / "bench.json").write_text(json.dumps({"identity": identity, "suite_name": "handmade"}, indent=1))
    for index, (story_id, category) in enumerate(STORIES.items()):
        story = {"id": story_id, "subject": f"a {story_id}", "category": category, "tokens": [story_id], "style": "",
                 "scenes": ["in a forest", "on a beach", "in snow"], "seeds": [1, 2, 3]}
        for (method, sid, k), (clip_t, clip_i, dreamsim) in VALUES.items():
            if sid == story_id:
                write_unit(method, story, index, k, clip_t, clip_i, dreamsim)


def write_unit(method, story, index, k, clip_t, clip_i, dreamsim):
    unit = story["id"] + (f".s{k}" if k else "")
    paths = []
    for i in range(3):
        rel = f"images/{method}/{unit}/{i:02d}.png"
        (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
        shade = tuple(min(255, c + 20 * i + 10 * index) for c in COLORS[method])
        Image.new("RGB", (16, 16), shade).save(ROOT / rel)
        paths.append(rel)
    record = {"format": 1, "unit": unit, "method": method, "story_index": index, "seed_index": k, "story": story,
              "prompts": [f"{story['subject']} {s}" for s in story["scenes"]], "seeds": story["seeds"],
              "images": paths, "masks": None, "per_image": [{"image": i} for i in range(3)],
              "metrics": {"clip_t": clip_t, "clip_i": clip_i, "dreamsim": dreamsim}, "seconds": 0.1, "worker": 0}
    path = ROOT / "records" / method / f"{unit}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
