"""Singular-value reweighting of prompt embeddings (1Prompt1Story's SVR), and its one prompt."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import SvdStoryError
from ...spectral import exp_reweight, spectral_filter


@dataclass(frozen=True)
class OnePrompt:
    """All frames in one prompt: the subject's text first, then each frame's text, comma separated."""

    text: str
    frames: list[list[int]]  # token positions of each frame (scene) in the tokenized prompt
    eot: list[int]  # positions of the end-of-text and padding tokens after the content (CLIP's; T5's end and padding)


def one_prompt_text(subject_prompt: str, scenes) -> str:
    """The subject's text, then each frame's text, comma separated."""
    return ", ".join([subject_prompt.strip()] + [scene.strip() for scene in scenes])


def one_prompt(tokenizer, subject_prompt: str, scenes: list[str], length: int | None = None,
               start: int = 0) -> OnePrompt:
    """The one prompt's frames and end tokens in the `length` tokens (the tokenizer's `model_max_length` by
    default) that one text encoder reads, placed at `start` in the text sequence the network reads
    (`Backbone.text_segments`)."""
    length = length or tokenizer.model_max_length
    lead = int(tokenizer.bos_token_id is not None and tokenizer("x").input_ids[0] == tokenizer.bos_token_id)
    text, frames = subject_prompt.strip(), []
    count = lambda t: len(tokenizer(t, add_special_tokens=False).input_ids)
    for scene in scenes:
        first = start + lead + count(text + ",")  # after a start-of-text token where the tokenizer puts one
        text = f"{text}, {scene.strip()}"
        frames.append(list(range(first, start + lead + count(text))))
    content = lead + count(text)
    if content + 1 > length:
        raise SvdStoryError(f"1p1s: the story's one prompt needs {content + 1} tokens but the text encoder takes "
                            f"{length}; use fewer or shorter scenes")
    return OnePrompt(text, frames, list(range(start + content, start + length)))


def _reweight_rows(embeds: torch.Tensor, rows: list[int], alpha: float, beta: float) -> torch.Tensor:
    """Replace embeds[rows] (rows x dim) by U diag(beta * exp(alpha * s) * s) V^T."""
    fn = lambda s, shape: exp_reweight(s, alpha, beta)
    out = embeds.clone()
    out[rows] = spectral_filter(embeds[rows], fn, "exact")
    return out


def reweight_for_frame(embeds: torch.Tensor, prompt: OnePrompt, frame: int, enhance: tuple[float, float],
                       suppress: tuple[float, float]) -> torch.Tensor:
    """(L, D) embeddings of the one prompt, tuned to express `frame`: enhance it, suppress the others.

    Each operation acts on a frame's tokens together with the EOT tokens, which carry the prompt's
    overall meaning, so the EOT rows accumulate every step (as in the paper's sequential SVR).
    """
    out = _reweight_rows(embeds, prompt.frames[frame] + prompt.eot, *enhance)
    for other, rows in enumerate(prompt.frames):
        if other != frame:
            out = _reweight_rows(out, rows + prompt.eot, *suppress)
    return out
