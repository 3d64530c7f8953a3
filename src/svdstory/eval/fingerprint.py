"""What a bench folder's results depend on, and the check that refuses to mix two configs in one folder.

The fingerprint (bench.json's "fingerprint"; folders written before it was renamed call it
"identity") holds the suite's content hash (not its name: a suite file may move), every method's
full config, the model, dtype, sampling and metric models. `--limit` and `--seeds` are left out:
they choose how much of the grid to run, not what a unit is, so a bench can grow. New method labels
may join a folder; a label whose config changed may not. The device is left out too (a bench may
move from one GPU to another), but the dtype, which follows from it, is in.
"""
from __future__ import annotations

import json

from ..errors import SvdStoryError

FORMAT = 1


def bench_fingerprint(suite, methods, model: str, dtype: str, sampling: dict, metrics: dict) -> dict:
    return _plain({"format": FORMAT,
                   "suite": {"digest": suite.digest, "stories": len(suite.stories)},
                   "model": model, "dtype": dtype, "sampling": sampling, "metrics": metrics,
                   "methods": {m.label: m.describe() for m in methods}})


def fingerprint_of(info: dict | None) -> dict | None:
    """The fingerprint in a bench.json, also from a folder that wrote it under its old name "identity"."""
    if not info:
        return None
    return info.get("fingerprint", info.get("identity"))


def _plain(obj):
    """Tuples become lists, exactly as they read back from bench.json."""
    return json.loads(json.dumps(obj, default=str))


def reconcile(existing: dict | None, new: dict, folder: str) -> dict:
    """The fingerprint to store: `new` plus methods only the folder knows; raises if anything differs."""
    if existing is None:
        return new
    for key in sorted(set(existing) | set(new)):
        if key == "methods":
            continue
        if existing.get(key) != new.get(key):
            raise _changed(folder, key, existing.get(key), new.get(key))
    methods = dict(existing.get("methods", {}))
    for label, described in new["methods"].items():
        if label in methods and _essence(methods[label]) != _essence(described):
            raise _changed(folder, f"methods.{label}", _essence(methods[label]), _essence(described))
        methods.setdefault(label, described)
    return {**new, "methods": methods}


def _essence(method: dict) -> dict:
    """Two specs that spell the same config alike (`energy:0.9` vs `energy:0.90`) are the same method.

    Options a folder's config lacks were added to the method later: they count at their defaults,
    so a bench recorded before an option existed resumes while the option keeps its default.
    """
    config = dict(method.get("config") or {})
    return {"name": method.get("name"), "config": {**_defaults(method.get("name")), **config}}


def _defaults(name) -> dict:
    from dataclasses import asdict

    from ..resolve import method_config

    try:
        return _plain(asdict(method_config(name, {})[1]))
    except SvdStoryError:  # a method this version does not know: compare what is written
        return {}


def _changed(folder: str, key: str, old, new) -> SvdStoryError:
    path, old, new = _first_difference(key, old, new)
    return SvdStoryError(f"--out {folder!r} holds a bench with another config ({path}: {_short(old)} there, "
                         f"{_short(new)} now); use a new --out folder or the same options")


def _first_difference(path: str, old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(f"{path}.{key}", old.get(key), new.get(key))
    return path, old, new


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
