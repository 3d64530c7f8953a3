"""The house (#24): one shared-attention call of consistory, followed from the command line, passes through at most
8 project files (docs/backbones.md, "Following one attention call", lists them)."""
import traceback
from pathlib import Path

import pytest
import torch.nn.functional as F

import svdstory
from svdstory.cli import main

ROOT = Path(svdstory.__file__).parent


def files_on_the_way(monkeypatch, argv) -> list[str]:
    """The project files on the call stack at the first attention call that reads more keys than its queries (the
    anchors' tokens are in), in the order the call passes through them."""
    stack = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, *args, **kwargs):
        if not stack and k.shape[2] > q.shape[2]:
            stack.extend(traceback.extract_stack()[:-1])
        return sdpa(q, k, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    assert main(argv) == 0
    files = [str(Path(frame.filename).relative_to(ROOT)) for frame in stack if ROOT in Path(frame.filename).parents]
    return list(dict.fromkeys(files))


@pytest.mark.parametrize("model, extra", [("tiny", []), ("tiny", ["--anchors-first"]), ("tiny-flux", [])])
def test_consistory_from_the_command_line(monkeypatch, tmp_path, model, extra):
    argv = ["generate", "--model", model, "--device", "cpu", "--steps", "3", "--height", "32", "--width", "32",
            "--method", "consistory", "--subject", "a cat", "--scene", "on a beach", "--scene", "in a city",
            "--scene", "in snow", *extra, "--out", str(tmp_path / "run")]
    files = files_on_the_way(monkeypatch, argv)
    assert files[0] == "cli.py" and files[-1] == "attention/extended.py"
    assert len(files) <= 8, files
