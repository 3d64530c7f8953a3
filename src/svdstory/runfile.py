"""A run.json read back: everything a run was made with, for `svdstory rerun` and the web UI's Load run.json.

One reader, so a file the command line repeats is one the page loads, and a broken file gets the same
one-line message in both. Nothing here imports torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import SvdStoryError
from .settings import SamplingConfig
from .story import Story


@dataclass(frozen=True)
class RunFile:
    """What run.json records of a run (save_result writes it; the record of the command that made it aside)."""

    story: Story  # every scene, with its seed where the run listed them
    method: str
    options: dict  # the method's whole config: option name -> value (JSON's lists read back as tuples)
    sampling: SamplingConfig
    model: str | None = None  # hub id, local folder or bundled:NAME; None: the bundled model
    revision: str | None = None
    device: str | None = None  # as the run resolved it, e.g. "cpu", "cuda:0"
    dtype: str | None = None  # e.g. "float32"
    anchors_first: bool = False  # an anchor batch, then every other scene alone against its cached anchors
    anchor_batch: int | None = None  # images in that batch; None: the method config's anchor_batch
    vae_slicing: bool = False
    vae_tiling: bool = False
    reference: object = None  # reference.Reference whose photo is a file name in the run's folder, or None


def read_run_file(path: str | Path, name: str | None = None) -> RunFile:
    """The run `path` records; one line naming the file (as `name`, default its path) when it is not a run.json
    svdstory can repeat."""
    shown = repr(name or str(path))
    try:
        info = json.loads(Path(path).read_text())
    except OSError as err:
        raise SvdStoryError(f"{shown} cannot be read: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise SvdStoryError(f"{shown} does not parse: {str(err).splitlines()[0]}") from None
    if not isinstance(info, dict):
        raise SvdStoryError(f"{shown} does not hold a run record")
    try:
        return _run_file(info)
    except SvdStoryError as err:  # a story or sampling setting the command line would refuse
        raise SvdStoryError(f"{shown} is not a run record svdstory can repeat: {err}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise SvdStoryError(f"{shown} is not a run record svdstory can repeat ({type(err).__name__}: {err})") from None


def _run_file(info: dict) -> RunFile:
    sampling = {key: _tuples(value) for key, value in info["sampling"].items()}
    batch = info.get("anchor_batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"anchor_batch must be a whole number of at least 1, got {batch!r}")
    return RunFile(story=Story(**info["story"]), method=_text(info["method"], "method"),
                   options={key: _tuples(value) for key, value in info["config"].items()},
                   sampling=SamplingConfig(**sampling), model=info.get("model"), revision=info.get("revision"),
                   device=info.get("device"), dtype=info.get("dtype"), anchors_first=bool(info.get("anchors_first")),
                   anchor_batch=batch, vae_slicing=bool(info.get("vae_slicing")),
                   vae_tiling=bool(info.get("vae_tiling")), reference=_reference(info.get("reference")))


def _reference(record: dict | None):
    """The reference photo a run recorded (`Reference.record()`), its photo the file name in the run's folder."""
    if record is None:
        return None
    from .reference.photo import Reference

    mask = record.get("mask")
    return Reference(_text(record["photo"], "reference photo"), _text(record["prompt"], "reference prompt"),
                     record["guidance"], mask=None if mask is None else _text(mask, "reference mask"))


def _tuples(value):
    """JSON holds a config's tuples as lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, got {value!r}")
    return value
