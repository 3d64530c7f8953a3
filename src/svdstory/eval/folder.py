"""The bench folder: where each unit's images and its result record live, and how records are read.

    DIR/bench.json                          the exact config (written by the main process)
    DIR/images/<label>/<story>/XX.png       images of seed index 0 (XX_maskS.png: the method's masks)
    DIR/images/<label>/<story>.sK/XX.png    images of seed index K > 0
    DIR/records/<label>/<story>[.sK].json   one unit's result, written last: it marks the unit done
    DIR/per_image.csv, per_story.csv, results.json   tables over every record, rebuilt once every unit is done
    DIR/logs/process-R.log                  output of process R > 0 of `--per-device` (appended per call)
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..output import atomic_write_bytes, atomic_write_json
from .methodspec import MethodSpec

RECORD_FORMAT = 1


@dataclass(frozen=True)
class Unit:
    """One generated story: a suite story, a method, a seed index."""

    index: int  # the story's position in the suite
    story: dict  # the complete story item
    method: MethodSpec
    seed_index: int = 0

    @property
    def id(self) -> str:
        return self.story["id"] + (f".s{self.seed_index}" if self.seed_index else "")


def plan_units(stories, methods, seeds: int = 1, rank: int = 0, world: int = 1) -> list[Unit]:
    """Story-major order, so an interrupted bench holds whole stories for every method; this process's
    share is every story whose index is congruent to its rank modulo the world size."""
    return [Unit(i, story, method, k) for i, story in enumerate(stories) if i % world == rank
            for k in range(seeds) for method in methods]


@dataclass(frozen=True)
class BenchFolder:
    """The paths of a bench folder (above) and the reads and writes of its units."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "bench.json"

    def unit_dir(self, unit: Unit) -> Path:
        return self.root / "images" / unit.method.label / unit.id

    def record_path(self, unit: Unit) -> Path:
        return self.root / "records" / unit.method.label / f"{unit.id}.json"

    def is_done(self, unit: Unit) -> bool:
        record = read_json(self.record_path(unit))
        return bool(record) and record.get("format") == RECORD_FORMAT and record.get("unit") == unit.id

    def write_images(self, unit: Unit, result) -> tuple[list[str], list[list[str]] | None]:
        """Every image (and mask) first; paths relative to the bench folder."""
        unit_dir = self.unit_dir(unit)
        images = [self._png(unit_dir / f"{i:02d}.png", img) for i, img in enumerate(result.images)]
        masks = None
        if result.masks is not None:
            masks = [[self._png(unit_dir / f"{i:02d}_mask{s}.png", m) for s, m in enumerate(per)]
                     for i, per in enumerate(result.masks)]
        return images, masks

    def _png(self, path: Path, image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())
        return path.relative_to(self.root).as_posix()

    def write_record(self, unit: Unit, record: dict) -> None:
        atomic_write_json(self.record_path(unit), clean_numbers(record))

    def records(self) -> list[dict]:
        """Every finished unit in the folder, whichever process wrote it, in a fixed order."""
        found = [read_json(p) for p in sorted((self.root / "records").glob("*/*.json"))]
        found = [r for r in found if r and r.get("format") == RECORD_FORMAT]
        return sorted(found, key=lambda r: (r["method"], r["story_index"], r["seed_index"]))


def read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None if there is none (no file, not JSON, or JSON but not an object)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clean_numbers(obj):
    """NaN and infinities become None: JSON has no NaN, and a missing value should read as missing."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_numbers(v) for v in obj]
    return obj
