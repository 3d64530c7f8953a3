"""`1p1s`: One-Prompt-One-Story (Liu et al., ICLR 2025). Every frame is generated from one prompt
holding all frames, its embeddings reweighted through their singular values to express the frame
at hand (enhance it, suppress the others), optionally with identity-preserving cross-attention."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...attention.call import AttnCall
from ...attention.policy import PlainPolicy
from ...errors import SvdStoryError
from ...sampling import Conditioning, RunOutput, encode_prompts
from ...story import compose_prompt
from ..configs import OnePromptConfig
from ..registry import Method, register
from .svr import one_prompt, one_prompt_text, reweight_for_frame


class SubjectPromptAttention(PlainPolicy):
    """Cross-attention keys/values extended by those of the subject's prompt alone (conditional half):
    the paper's identity-preserving cross-attention (IPCA)."""

    def __init__(self, subject_embeds: torch.Tensor):
        self.subject_embeds = subject_embeds  # (1, L, D)

    def cross_attention(self, call: AttnCall, state) -> torch.Tensor:
        layout = state.layout
        sk, sv = call.project(self.subject_embeds)  # (1, H, L, d)
        B = call.query.shape[0]
        keys = torch.cat([call.key, sk.expand(B, -1, -1, -1)], dim=2)
        values = torch.cat([call.value, sv.expand(B, -1, -1, -1)], dim=2)
        mask = torch.ones(layout.chunks, layout.n_images, keys.shape[2], dtype=torch.bool, device=keys.device)
        mask[:-1, :, call.key.shape[2]:] = False  # the unconditional half keeps its own context only
        return F.scaled_dot_product_attention(call.query, keys, values, attn_mask=mask.view(B, 1, 1, -1),
                                              scale=call.scale)


def subject_prompt(story) -> str:
    """The subject alone, in the story's style: the first part of the one prompt."""
    return compose_prompt(story.style, story.subject, "")


def one_prompt_conditioning(model, story, guidance: float, config: OnePromptConfig) -> Conditioning:
    """One row per frame: the one prompt's embeddings reweighted for that frame (uncond rows as usual). Where the
    text sequence joins several encoders' tokens (SD3: CLIP's, then T5's), each encoder's part is reweighted
    over its own frame and end tokens."""
    subject, scenes = subject_prompt(story), list(story.scenes)
    prompts = [one_prompt(tokenizer, subject, scenes, length, start)
               for tokenizer, start, length in model.backbone.text_segments()]
    single = encode_prompts(model, [prompts[0].text], guidance)
    n = len(story.scenes)
    cond_row = single.layout.cond(single.embeds)[0]  # (L, D)

    def frame(j: int) -> torch.Tensor:
        out = cond_row.float()
        for prompt in prompts:
            out = reweight_for_frame(out, prompt, j, (config.enhance_alpha, config.enhance_beta),
                                     (config.suppress_alpha, config.suppress_beta))
        return out.to(cond_row.dtype)

    frames = [frame(j) for j in range(n)]
    batch = type(single.layout)(n, single.layout.cfg)
    repeat = lambda x: batch.merge(single.layout.split(x).repeat_interleave(n, 1))
    embeds = repeat(single.embeds)
    embeds[-n:] = torch.stack(frames)  # the conditional chunk is last
    added = None if single.added is None else {k: None if v is None else repeat(v) for k, v in single.added.items()}
    return Conditioning(embeds, added, batch)


def conditioning(model, story, sampling, config: OnePromptConfig, cache=None) -> Conditioning:
    """The story's frames of the one prompt; an extra frame (`cache`: the anchors' scenes) joins the
    anchors' one prompt, so the shared context is still the whole story."""
    if cache is None:
        return one_prompt_conditioning(model, story, sampling.guidance, config)
    full = one_prompt_conditioning(model, story.with_scenes(cache["scenes"] + list(story.scenes)), sampling.guidance,
                                   config)
    batch = type(full.layout)(1, full.layout.cfg)
    last = lambda x: None if x is None else batch.merge(full.layout.split(x)[:, -1:])
    added = None if full.added is None else {k: last(v) for k, v in full.added.items()}
    return Conditioning(last(full.embeds), added, batch)


def _policy(ctx, config: OnePromptConfig):
    if not config.ipca:
        return PlainPolicy()
    if not any(site.kind == "cross" for site in ctx.model.backbone.sites()):
        raise SvdStoryError(f"option ipca extends cross-attention, which {ctx.model.backbone.name} models do not have "
                            "(their text and image tokens attend jointly): use ipca=false")
    encoded = encode_prompts(ctx.model, [subject_prompt(ctx.story)], ctx.guidance)
    return SubjectPromptAttention(encoded.layout.cond(encoded.embeds))


def run(ctx, config: OnePromptConfig) -> RunOutput:
    return RunOutput(ctx.denoise(_policy(ctx, config)))


def run_anchors(ctx, config: OnePromptConfig):
    return run(ctx, config), {"scenes": list(ctx.story.scenes)}


def run_extra(ctx, config: OnePromptConfig, cache) -> RunOutput:
    return run(ctx, config)


def encoded_prompts(story) -> list[str]:
    """The one prompt of all frames, and the subject's prompt."""
    return [one_prompt_text(subject_prompt(story), story.scenes), subject_prompt(story)]


register(Method("1p1s", OnePromptConfig, run, run_anchors, run_extra, prompts=encoded_prompts,
                conditioning=conditioning))
