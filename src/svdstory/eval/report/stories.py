"""The best and worst stories of one method by one metric, per family (story category): each story's images in
a strip, with the method's subject masks tinted over them where the bench kept masks (ConsiStory's)."""
from __future__ import annotations

import math
import re
from pathlib import Path

from ..metric_info import arrow, higher_is_better
from .doc import FILES, Heading, Strip, Text, png_bytes, write_png

HEIGHT = 128  # pixels: a strip's height
NOTED = ("mask_iou", "mask_on_props")  # story metrics added to a strip's title when the bench holds them


def best_worst_section(data, method: str, metric: str | None, out: Path, top: int) -> list:
    blocks = []
    for family in data.categories():
        values = data.story_values(method, metric, data.stories_in(family)) if metric else {}
        ranked = sorted((s for s, v in values.items() if math.isfinite(v)), key=lambda s: values[s],
                        reverse=higher_is_better(metric or ""))
        n_best = min(top, (len(ranked) + 1) // 2)  # with fewer than 2 x top stories, no story is in both
        n_worst = min(top, len(ranked) - n_best)
        for kind, chosen in (("best", ranked[:n_best]), ("worst", ranked[::-1][:n_worst])):
            if chosen:
                blocks.append(Heading(f"{family}: {len(chosen)} {kind}", 3))
            for rank, story in enumerate(chosen, start=1):
                title = f"{kind} {rank}: {story} ({family}), {metric} = {values[story]:.4f}"
                path = out / FILES / _file_name(f"{method}-{family}-{kind}-{rank:02d}.png")
                blocks.append(strip(data, method, story, title + _notes(data, method, story), path))
    if not blocks:
        return [Heading(f"Best and worst stories of {method}"), Text(f"{method} has no values of {metric}.")]
    return [Heading(f"Best and worst stories of {method} by {metric} {arrow(metric)}"),
            Text("Ranked within each family; the method's subject masks are tinted over its images where the "
                 "bench kept them.")] + blocks


def _file_name(text: str) -> str:
    """A suite's category is free text: keep a file name to letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^\w.-]+", "_", text)


def _notes(data, method: str, story: str) -> str:
    values = data.values.get(method, {}).get(story, {})
    return "".join(f", {m} = {values[m]:.2f}" for m in NOTED if m in values)


def strip(data, method: str, story: str, title: str, path: Path) -> Strip | Text:
    """The story's images (seed index 0) in a row, HEIGHT pixels high, masks tinted over them if kept. The
    strip is one PNG (Markdown); the HTML page shows the images one by one: the bench's own files, or the
    tinted ones written beside the strip."""
    from ...output import image_grid

    record = data.record(method, story)
    images = [data.root / p for p in record["images"]]
    masks = [[data.root / p for p in per] for per in record.get("masks") or []]
    if not all(p.is_file() for p in images):  # records copied without their images (e.g. from a GPU machine)
        return Text(f"{title}: images not in this bench folder.")
    if len(masks) != len(images) or not all(p.is_file() for per in masks for p in per):
        masks = []
    shown = [_thumb(p, masks[i] if masks else ()) for i, p in enumerate(images)]
    write_png(path, png_bytes(image_grid(shown)))
    if not masks:
        return Strip(title, path, tuple(images))
    tinted = tuple(write_png(path.with_name(f"{path.stem}-{i:02d}.png"), png_bytes(img)) for i, img in enumerate(shown))
    return Strip(title, path, tinted)


def _thumb(path: Path, masks):
    from PIL import Image

    from ...ui.gallery import overlay  # the web UI's tint: one colour per subject

    with Image.open(path) as img:
        img = img.convert("RGB")
    if masks:
        subject_masks = []
        for p in masks:
            with Image.open(p) as m:
                subject_masks.append(m.convert("L"))
        img = overlay(img, subject_masks)
    return img.resize((max(1, round(HEIGHT * img.width / img.height)), HEIGHT))
