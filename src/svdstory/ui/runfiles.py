"""A run's files for download (the CLI's run folder, zipped) and a run.json read back into the form."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import SvdStoryError
from ..output import save_result
from .form import Form

MADE_BY = {"command": ["svdstory", "ui"]}  # run.json's record of what made the run


def zip_name(columns) -> str:
    subject = columns[0].result.info.get("story", {}).get("subject", "story")
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-") or "story"
    return f"svdstory-{slug}-{'-vs-'.join(c.method for c in columns)}.zip"


def write_zip(columns, folder: str | Path) -> Path:
    """One run folder per column (the files at the zip's top for a single column), zipped into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".zip-"))
    try:
        root = staging / "run"
        for column in columns:
            save_result(column.result, root if len(columns) == 1 else root / column.method, MADE_BY)
        archive = folder / zip_name(columns)
        made = shutil.make_archive(str(archive.with_suffix("")), "zip", root)
        return Path(made)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_run(path: str | Path) -> dict:
    """A run.json's content; one line naming the file when it is not one."""
    path = Path(path)
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SvdStoryError(f"{path.name} is not a run.json: {str(err).splitlines()[0]}") from None
    if not isinstance(info, dict) or not {"method", "story", "sampling"} <= set(info):
        raise SvdStoryError(f"{path.name} is not a run.json of svdstory (it needs method, story and sampling)")
    return info


def form_from_run(info: dict) -> Form:
    """The form that reproduces a run: its story, seeds, method, every option and the sampling settings."""
    story, sampling = info["story"], info["sampling"]
    seeds = list(story.get("seeds") or [])
    scenes = tuple((scene, seeds[i] if i < len(seeds) else None) for i, scene in enumerate(story["scenes"]))
    return Form(subject=story["subject"], tokens=", ".join(story.get("tokens") or ()), style=story.get("style", ""),
                negative=sampling.get("negative_prompt") or "", scenes=scenes, seed=sampling.get("seed", 0),
                method=info["method"], options=dict(info.get("config") or {}), steps=sampling.get("steps"),
                guidance=sampling.get("guidance"), height=sampling.get("height"), width=sampling.get("width"))
