"""Built-in consistency methods; each module registers one method."""
import importlib

BUILTIN = ("vanilla", "consistory", "consistory_steps", "shared", "svd", "storydiffusion", "onepromptonestory")
_loaded = False


def load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in BUILTIN:
            importlib.import_module(f"{__name__}.{name}")
