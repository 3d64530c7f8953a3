"""A run's files for download (the CLI's run folder, zipped) and a run.json (`svdstory.runfile`) back in the form."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import SvdStoryError
from ..output import write_run
from ..runfile import RunFile
from .form import Form

MADE_BY = {"command": ["svdstory", "ui"]}  # run.json's record of what made the run


def zip_name(runs) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", runs[0].story.subject.lower()).strip("-") or "story"
    return f"svdstory-{slug}-{'-vs-'.join(run.method for run in runs)}.zip"


def write_zip(runs, folder: str | Path) -> Path:
    """One run folder per method (the files at the zip's top for a single one), zipped into `folder`; a write
    that fails (a full disk) is one line, and leaves no zip."""
    folder = Path(folder)
    archive = folder / zip_name(runs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".zip-"))
    except OSError as err:
        raise SvdStoryError(f"the zip for download could not be written: {err.strerror or err}") from None
    try:
        root = staging / "run"
        for run in runs:
            write_run(run.result, root if len(runs) == 1 else root / run.method, MADE_BY)
        made = shutil.make_archive(str(staging / archive.stem), "zip", root)
        os.replace(made, archive)  # the zip appears whole or not at all
        return archive
    except OSError as err:
        raise SvdStoryError(f"the zip for download could not be written: {err.strerror or err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def form_from_run(run: RunFile) -> Form:
    """The form that reproduces a run: its story, seeds, method, every option and the sampling settings."""
    story, sampling = run.story, run.sampling
    seeds = list(story.seeds)
    scenes = tuple((scene, seeds[i] if i < len(seeds) else None) for i, scene in enumerate(story.scenes))
    return Form(subject=story.subject, tokens=", ".join(story.tokens), style=story.style,
                negative=sampling.negative_prompt or "", scenes=scenes, seed=sampling.seed, method=run.method,
                options=dict(run.options), steps=sampling.steps, guidance=sampling.guidance, height=sampling.height,
                width=sampling.width, reference_prompt=run.reference.prompt if run.reference else "")


def loaded_message(run: RunFile) -> str:
    """What the page says of a loaded run, and what Generate will make of it."""
    n, batch = len(run.story.scenes), run.anchor_batch
    if run.anchors_first and batch and batch < n:  # More scenes' extras: the page has no form for the split
        return (f"loaded a {run.method} run of {n} scenes, the last {n - batch} made against the first {batch}'s "
                f"anchors: Generate makes all {n} at once; `svdstory rerun` repeats it image for image")
    return f"loaded a {run.method} run of {n} scenes: press Generate to reproduce it"
