"""A bench folder read back for the report: story-level metric values per method (seeds averaged)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import SvdStoryError
from ..fingerprint import fingerprint_of
from ..folder import BenchFolder, read_json


@dataclass
class BenchData:
    root: Path
    info: dict  # bench.json ({} if absent)
    records: list[dict]
    methods: list[str] = field(default_factory=list)  # bench.json's order, then any others
    values: dict = field(default_factory=dict)  # method -> story -> metric -> mean over seed indices
    stories: dict = field(default_factory=dict)  # story id -> story item

    def metrics(self) -> list[str]:
        names = {k for per_story in self.values.values() for m in per_story.values() for k in m}
        return sorted(names)

    def story_values(self, method: str, metric: str, stories=None) -> dict[str, float]:
        """story -> value of the method's stories that have the metric (of `stories` only, if given)."""
        per_story = self.values.get(method, {})
        return {s: m[metric] for s, m in per_story.items() if metric in m and (stories is None or s in stories)}

    def categories(self) -> list[str]:
        return sorted({s["category"] for s in self.stories.values()})

    def stories_in(self, category: str) -> set[str]:
        return {s for s, item in self.stories.items() if item["category"] == category}

    def vanilla(self) -> str | None:
        """The label of the bench's vanilla method (bench.json names each label's method), if it has one."""
        named = (fingerprint_of(self.info) or {}).get("methods", {})
        labels = [label for label in self.methods if named.get(label, {}).get("name", label) == "vanilla"]
        return labels[0] if labels else None

    def record(self, method: str, story: str) -> dict | None:
        """The story's seed-index-0 record (the lowest seed index there is)."""
        found = [r for r in self.records if r["method"] == method and r["story"]["id"] == story]
        return min(found, key=lambda r: r["seed_index"]) if found else None


def load_bench(root: Path) -> BenchData:
    records = BenchFolder(root).records()
    if not records:
        raise SvdStoryError(f"{str(root)!r} holds no finished units (records/*/*.json)")
    info = read_json(root / "bench.json") or {}
    listed = list((fingerprint_of(info) or {}).get("methods", {}))
    seen = sorted({r["method"] for r in records})
    data = BenchData(root, info, records, [m for m in listed if m in seen] + [m for m in seen if m not in listed])
    sums: dict = {}
    for r in records:
        data.stories.setdefault(r["story"]["id"], r["story"])
        per = sums.setdefault(r["method"], {}).setdefault(r["story"]["id"], {})
        for key, v in r["metrics"].items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                per.setdefault(key, []).append(float(v))
    data.values = {m: {s: {k: sum(v) / len(v) for k, v in ks.items()} for s, ks in per.items()}
                   for m, per in sums.items()}
    return data
