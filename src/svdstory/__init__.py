"""svdstory: training-free consistent subject generation with Stable Diffusion models.

The names below load on first use, so that commands that need no model start without torch.
"""
import importlib
import sys
import types

_EXPORTS = {"SamplingConfig": "settings", "SvdStoryError": "errors", "StoryResult": "results", "Subject": "results",
            "generate": "generate", "generate_anchors": "generate", "generate_more": "generate", "Model": "models",
            "load_model": "models", "Story": "story", "load_story": "story"}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'svdstory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # Importing the submodule svdstory.generate sets the package's attribute `generate` to it; the
        # function generate() keeps that name, as it did when this package imported it eagerly.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
