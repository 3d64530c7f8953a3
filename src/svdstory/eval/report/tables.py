"""Tables over a bench's unit records: per image and per story (CSV and JSON), and the printed summary."""
from __future__ import annotations

import csv
import io
import math

from ...output import atomic_write_bytes, atomic_write_json
from ..metric_info import arrow, main_metrics

STORY_COLUMNS = ("method", "story", "seed_index", "category", "subject", "n_images")
IMAGE_COLUMNS = ("method", "story", "seed_index", "category", "image", "seed", "prompt", "path")


def per_story_rows(records) -> list[dict]:
    return [{"method": r["method"], "story": r["story"]["id"], "seed_index": r["seed_index"],
             "category": r["story"]["category"], "subject": r["story"]["subject"], "n_images": len(r["images"]),
             **r["metrics"]} for r in records]


def per_image_rows(records) -> list[dict]:
    rows = []
    for r in records:
        for i, path in enumerate(r["images"]):
            extra = r["per_image"][i] if i < len(r["per_image"]) else {}
            rows.append({"method": r["method"], "story": r["story"]["id"], "seed_index": r["seed_index"],
                         "category": r["story"]["category"], "image": i, "seed": r["seeds"][i],
                         "prompt": r["prompts"][i], "path": path,
                         **{k: v for k, v in extra.items() if k != "image"}})
    return rows


def to_csv(rows, leading) -> bytes:
    columns = list(leading) + sorted({k for row in rows for k in row} - set(leading))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def metric_means(records) -> dict[str, dict[str, float]]:
    """method -> metric -> mean over its story records (missing values skipped)."""
    values: dict = {}
    for r in records:
        for key, v in r["metrics"].items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                values.setdefault(r["method"], {}).setdefault(key, []).append(v)
    return {m: {k: sum(v) / len(v) for k, v in per.items()} for m, per in values.items()}


def write_tables(folder, records) -> None:
    stories, images = per_story_rows(records), per_image_rows(records)
    atomic_write_bytes(folder.root / "per_story.csv", to_csv(stories, STORY_COLUMNS))
    atomic_write_bytes(folder.root / "per_image.csv", to_csv(images, IMAGE_COLUMNS))
    atomic_write_json(folder.root / "results.json",
                      {"per_story": stories, "per_image": images, "means": metric_means(records)})


def summary_text(records) -> str:
    """Methods x main metrics, mean over every finished story record."""
    means = metric_means(records)
    counts: dict = {}
    for r in records:
        counts[r["method"]] = counts.get(r["method"], 0) + 1
    available = {k for per in means.values() for k in per}
    metrics = main_metrics(available)
    header = ["method", "units"] + [f"{m} {arrow(m)}" for m in metrics]
    lines = [[m, str(counts[m])] + [_fmt(means.get(m, {}).get(k)) for k in metrics] for m in sorted(counts)]
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    fmt = lambda row: "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(row) for row in lines])


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"
