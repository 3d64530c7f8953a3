"""Built-in consistency methods; importing a method's module (its config in configs.py names it) registers it."""
import importlib

from .configs import BUILTIN


def load_builtin(name: str | None = None) -> None:
    """Import the module of one built-in method (or of all): importing it registers the method."""
    for method in [name] if name else list(BUILTIN):
        if method in BUILTIN:
            importlib.import_module(f"{__name__}.{BUILTIN[method][0]}")
