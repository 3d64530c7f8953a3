"""Commands that need no model start without torch, diffusers or transformers (they take seconds to import)."""
import subprocess
import sys

import pytest

PROBE = """
import contextlib, io, sys
from svdstory.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "numpy") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize("argv,allowed", [
    (["--help"], {"numpy"}),  # the world commands' parser module imports numpy (50 ms)
    (["methods"], {"numpy"}),
    (["world", "info"], {"numpy"}),
    (["generate", "--help"], {"numpy"}),
])
def test_commands_that_need_no_model_import_no_model_library(argv, allowed):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True)
    imported = set(filter(None, out.stdout.strip().split(",")))
    assert imported <= allowed, imported
