"""The photo as the story's anchor: the method's anchor pass runs along the photo's inverted path, so that
everything it records of an anchor (keys and values, subject maps, DIFT features) comes from the photo; the
story's images are then made as extras against that record."""
from __future__ import annotations

from ..errors import SvdStoryError
from ..inversion import encode, invert
from ..preflight import check_prompt_lengths
from ..sampling import RunContext, encode_prompts
from ..subject_words import story_token_positions
from .photo import Photo, Reference, fit_photo, read_reference


def check_takes_reference(method) -> None:
    """One line for a method that has no anchor a photo could stand in for."""
    if not method.reference:
        from ..methods.registry import get_method, method_names

        able = [name for name in method_names() if get_method(name).reference]
        raise SvdStoryError(f"method {method.name!r} cannot take a reference photo: it shares no anchor a photo "
                            f"could stand in for (methods that can: {', '.join(able)})")


def photo_context(model, story, sampling, method, config, reference: Reference, photo: Photo,
                  callback=None) -> RunContext:
    """The anchor pass's inputs: the photo's prompt and inverted path (one image, the run's seed)."""
    prompt = reference.prompt_for(story.subject)
    tokenizers = model.backbone.tokenizers
    check_prompt_lengths(tokenizers, [prompt], "reference prompt", "shorten it")
    story_token_positions(tokenizers[-1], [prompt], story.tokens)  # the subject words are in it
    latents = encode(model, [fit_photo(photo.image, sampling.height, sampling.width, reference.where)])  # (1, C, h, w)
    path = invert(model, latents, prompt, sampling.steps, reference.guidance, config.scheduler, callback)
    cond = encode_prompts(model, [prompt], sampling.guidance, sampling.negative_prompt)
    positions = model.backbone.token_positions([prompt], story.tokens)
    scheduler = None if config.scheduler in (None, "default") else config.scheduler
    return RunContext(model, [prompt], [sampling.seed], path[0], cond, positions, sampling.steps, sampling.guidance,
                      scheduler, callback, story.with_scenes(story.scenes[:1], [sampling.seed]),
                      sampling.attention_chunk, sampling.freeu, path)


def photo_anchor(model, story, sampling, method, config, reference: Reference, callback=None):
    """(RunOutput, cache, ctx, Photo) of the method's anchor pass over the photo; with a subject mask, what the
    anchor shares is limited to it (reference/mask.py)."""
    from ..methods.anchored import cache_device

    check_takes_reference(method)
    photo = read_reference(reference)
    ctx = photo_context(model, story, sampling, method, config, reference, photo, callback)
    recorder = None if photo.mask is None else masked_recorder(photo, sampling, ctx, cache_device(config))
    out, cache = method.run_anchors(ctx, config, recorder=recorder)
    return out, cache, ctx, photo


def masked_recorder(photo: Photo, sampling, ctx, device):
    """A recorder that keeps what lies on the photo's mask, cropped and resized as the photo was."""
    import numpy as np
    import torch
    from PIL import Image

    from .mask import MaskedRecorder

    fitted = fit_photo(photo.mask, sampling.height, sampling.width, resample=Image.Resampling.NEAREST)
    mask = torch.from_numpy(np.asarray(fitted, dtype=np.float32) / 255)  # (H, W)
    return MaskedRecorder(mask, tuple(ctx.latents.shape[-2:]), device)
