"""Checks of a run that need no model weights, made before the model loads (which takes seconds to
minutes): the prompts against the model's tokenizers (the subject words are there, every prompt fits
the text encoder's context), the image size against its VAE factor and its own size, the steps against its
scheduler. `generate` checks them again on the loaded model, for library users and for hub models not on
disk yet."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SvdStoryError
from .limits import check_largest, check_steps
from .subject_words import story_token_positions


@dataclass
class ModelFiles:
    """What the checks need from a model, read without its weights."""

    tokenizers: list  # the text encoders' tokenizers (SDXL has two)
    factor: int | None  # the VAE's downsampling factor, if its config says
    side: int | None = None  # the model's own image side in pixels, if the UNet's and VAE's configs say
    schedulers: list = field(default_factory=list)  # one of each kind a method may choose, if the config says
    backbone: str | None = None  # "unet", "flux" or "sd3" (backbones.PIPELINES), if model_index.json says


def read_model_files(source: str, revision: str | None = None) -> ModelFiles | None:
    """Tokenizers and VAE factor of a local folder, a cached hub snapshot or a built-in tiny model; None
    for a hub id not downloaded yet (it must be downloadable: else this fails in one line)."""
    from .models import check_downloadable, model_folder, read_model_index

    if source in ("tiny", "tiny-sdxl"):
        from .sampling import every_scheduler
        from .tiny import TINY_SIDE, tiny_scheduler, tiny_tokenizer

        scheduler = tiny_scheduler()
        return ModelFiles([tiny_tokenizer()] * (2 if source == "tiny-sdxl" else 1), 2, TINY_SIDE,
                          every_scheduler(type(scheduler), scheduler.config), "unet")
    if source in ("tiny-flux", "tiny-flux-schnell", "tiny-sd3"):
        from .tiny import tiny_t5_tokenizer, tiny_tokenizer

        clip = [tiny_tokenizer()] * (2 if source == "tiny-sd3" else 1)
        return ModelFiles(clip + [tiny_t5_tokenizer()], 4, None, [], "sd3" if source == "tiny-sd3" else "flux")
    folder = model_folder(source, revision)
    if folder is None:
        check_downloadable(source)
        return None
    index = read_model_index(folder, source)
    tokenizers = [_tokenizer(folder, name, index[name][1]) for name in ("tokenizer", "tokenizer_2", "tokenizer_3")
                  if isinstance(index.get(name), list) and index[name][1] and (folder / name).is_dir()]
    if any(t is None for t in tokenizers):  # all or none: a prompt must fit each of the text encoders
        tokenizers = []
    from .backbones import backbone_name

    backbone = backbone_name(str(index.get("_class_name", ""))) or "unet"
    if backbone != "unet":  # the loaded model checks the size and steps of a DiT (backbones/mmdit.py)
        return ModelFiles(tokenizers, None, None, [], backbone)
    vae = _json(folder / "vae" / "config.json")
    factor = 2 ** (len(vae["block_out_channels"]) - 1) if vae and vae.get("block_out_channels") else None
    sample_size = (_json(folder / "unet" / "config.json") or {}).get("sample_size")
    side = sample_size * factor if factor and isinstance(sample_size, int) else None
    return ModelFiles(tokenizers, factor, side, _schedulers(folder / "scheduler" / "scheduler_config.json"), backbone)


def _schedulers(path: Path) -> list:
    """The schedulers a run may use, from the checkpoint's scheduler config; none if it does not say."""
    import diffusers

    from .sampling import every_scheduler

    config = _json(path)
    cls = getattr(diffusers, str((config or {}).get("_class_name")), None)
    if cls is None or not hasattr(cls, "from_config"):
        return []
    try:
        return every_scheduler(cls, config)
    except (ValueError, TypeError, AttributeError):  # loading the model will say what is wrong with it
        return []


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tokenizer(folder: Path, name: str, class_name: str):
    """The tokenizer alone, or None if it does not load alone (loading the model will say why, if it fails)."""
    import transformers

    try:
        return getattr(transformers, class_name).from_pretrained(folder / name)
    except (AttributeError, OSError, ValueError, TypeError):
        return None


def check_backbone(method, backbone: str) -> None:
    """Refuse, in one line, a method that does not run on this model's backbone yet."""
    if backbone not in method.config.backbones:
        raise SvdStoryError(f"method {method.name!r} does not run on {backbone} models yet "
                            f"(it runs on: {', '.join(method.config.backbones)})")


def tokenizers_of(model) -> list:
    return model.backbone.tokenizers


def check_prompt_lengths(tokenizers, prompts, what: str = "prompt",
                         advice: str = "shorten it (style, subject or scene)") -> None:
    """Refuse a prompt the text encoder would cut: name it and the limit, in tokens of that encoder."""
    for tokenizer in tokenizers:
        limit = tokenizer.model_max_length
        for prompt in prompts:
            n = len(tokenizer(prompt, truncation=False, verbose=False).input_ids)  # start and end tokens included
            if n > limit:
                raise SvdStoryError(f"the {what} {prompt!r} is {n} tokens long but the text encoder takes {limit}: "
                                    f"{advice}")


def check_story_prompts(tokenizers, story, method, negative_prompt: str | None = None) -> None:
    """Every prompt the method encodes fits the text encoder, and every subject word is in every prompt."""
    check_prompt_lengths(tokenizers, story.prompts)
    own = method.prompts(story)
    if own != story.prompts:  # a method that builds prompts of its own (1p1s: every scene in one)
        check_prompt_lengths(tokenizers, own, f"{method.name} prompt", "use fewer or shorter scenes")
    if negative_prompt:
        check_prompt_lengths(tokenizers, [negative_prompt], "negative prompt")
    # subject words are found in the last encoder's tokens (Backbone.token_positions: T5's on a DiT; on SDXL
    # the second CLIP tokenizes as the first)
    story_token_positions(tokenizers[-1], story.prompts, story.tokens)


def check_size(factor: int, height: int | None, width: int | None) -> None:
    for name, value in (("height", height), ("width", width)):
        if value is not None and value % factor:
            raise SvdStoryError(f"--{name} {value} is not divisible by the model's factor {factor}")


def preflight(source: str, revision: str | None, story, method, sampling) -> None:
    """Every check that the model's files allow before its weights load (see the module's docstring)."""
    files = read_model_files(source, revision)
    if files is None:
        return
    if files.backbone:
        check_backbone(method, files.backbone)
    if files.tokenizers:
        check_story_prompts(files.tokenizers, story, method, sampling.negative_prompt)
    if files.factor:
        check_size(files.factor, sampling.height, sampling.width)
    check_limits(files, sampling)


def check_limits(files: ModelFiles, sampling, sides: dict | None = None) -> None:
    """The steps and image sides (by the name of their input; default --height and --width) within what the
    model allows, where its files say (svdstory.limits)."""
    if files.side:
        check_largest(files.side, sides or {"--height": sampling.height, "--width": sampling.width})
    if files.schedulers:
        check_steps(sampling.steps, files.schedulers)
