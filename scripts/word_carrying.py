"""Do a text encoder's token outputs carry their words? Runs `svdstory.mini.clip.word_carrying` on
an exported mini CLIP (its text tower) or on a diffusers pipeline folder (its text_encoder), and
prints the numbers as JSON.

  python scripts/word_carrying.py src/svdstory/assets/minisd      # the bundled model's text encoder
  python scripts/word_carrying.py src/svdstory/assets/clip        # the same weights, as the CLIP's text tower
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_common import bare_package  # noqa: E402

bare_package()
from svdstory.mini import clip  # noqa: E402
from svdstory.world import SUBJECTS  # noqa: E402


def load_text(folder: Path):
    """(text model, tokenizer) from a CLIP export or a StableDiffusionPipeline folder."""
    from transformers import CLIPTextModel, CLIPTokenizer

    if (folder / "text_encoder").is_dir():
        return (CLIPTextModel.from_pretrained(str(folder / "text_encoder")).float().eval(),
                CLIPTokenizer.from_pretrained(str(folder / "tokenizer")))
    model, tokenizer = clip.load_clip(folder)
    return clip.text_tower(model).eval(), tokenizer


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    result = clip.word_carrying(*load_text(args.folder), list(SUBJECTS))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
