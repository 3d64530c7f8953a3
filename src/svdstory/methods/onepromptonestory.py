"""`1p1s`: One-Prompt-One-Story (Liu et al., ICLR 2025). Every frame is generated from one prompt
holding all frames, its embeddings reweighted through their singular values to express the frame
at hand (enhance it, suppress the others), optionally with identity-preserving cross-attention."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attention.policy import AttnCall, PlainPolicy
from ..context import RunOutput
from ..prompt_svr import one_prompt, one_prompt_text, reweight_for_frame
from ..sampling import Conditioning, encode_prompts
from ..story import compose_prompt
from .configs import OnePromptConfig
from .registry import Method, register


class IdentityCrossAttention(PlainPolicy):
    """Cross-attention keys/values extended by those of the identity-only prompt (conditional half)."""

    def __init__(self, identity_embeds: torch.Tensor):
        self.identity = identity_embeds  # (1, L, D)
        self.state = None

    def cross_attention(self, call: AttnCall) -> torch.Tensor:
        attn, layout = call.attn, self.state.layout
        heads = lambda x: x.view(1, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)
        ik, iv = heads(attn.to_k(self.identity)), heads(attn.to_v(self.identity))  # (1, H, L, d)
        B = call.query.shape[0]
        keys = torch.cat([call.key, ik.expand(B, -1, -1, -1)], dim=2)
        values = torch.cat([call.value, iv.expand(B, -1, -1, -1)], dim=2)
        mask = torch.ones(layout.chunks, layout.n_images, keys.shape[2], dtype=torch.bool, device=keys.device)
        mask[:-1, :, call.key.shape[2]:] = False  # the unconditional half keeps its own context only
        return F.scaled_dot_product_attention(call.query, keys, values, attn_mask=mask.view(B, 1, 1, -1),
                                              scale=attn.scale)


def conditioning(model, story, guidance: float, config: OnePromptConfig) -> tuple[Conditioning, str]:
    """One row per frame: the one prompt's embeddings reweighted for that frame (uncond rows as usual)."""
    identity = compose_prompt(story.style, story.subject, "")
    layout = one_prompt(model.pipe.tokenizer, identity, list(story.scenes))
    single = encode_prompts(model, [layout.text], guidance)
    n = len(story.scenes)
    cond_row = single.layout.cond(single.embeds)[0]  # (L, D)
    frames = [reweight_for_frame(cond_row.float(), layout, j, (config.enhance_alpha, config.enhance_beta),
                                 (config.suppress_alpha, config.suppress_beta)).to(cond_row.dtype) for j in range(n)]
    layout_n = type(single.layout)(n, single.layout.cfg)
    repeat = lambda x: layout_n.merge(single.layout.split(x).repeat_interleave(n, 1))
    embeds = repeat(single.embeds)
    embeds[-n:] = torch.stack(frames)  # the conditional chunk is last
    added = None if single.added is None else {k: None if v is None else repeat(v) for k, v in single.added.items()}
    return Conditioning(embeds, added, layout_n), identity


def _policy(ctx, identity: str, config: OnePromptConfig):
    if not config.ipca:
        return PlainPolicy()
    ident = encode_prompts(ctx.model, [identity], ctx.guidance)
    return IdentityCrossAttention(ident.layout.cond(ident.embeds))


def run(ctx, config: OnePromptConfig) -> RunOutput:
    ctx.cond, identity = conditioning(ctx.model, ctx.story, ctx.guidance, config)
    return RunOutput(ctx.denoise(ctx.new_state(_policy(ctx, identity, config))))


def run_anchors(ctx, config: OnePromptConfig):
    return run(ctx, config), {"scenes": list(ctx.story.scenes)}


def run_extra(ctx, config: OnePromptConfig, cache) -> RunOutput:
    """An extra frame joins the anchors' one prompt, so the shared context is still the whole story."""
    story = ctx.story.with_scenes(cache["scenes"] + list(ctx.story.scenes))
    full, identity = conditioning(ctx.model, story, ctx.guidance, config)
    last = lambda x: None if x is None else ctx.cond.layout.merge(full.layout.split(x)[:, -1:])
    added = None if full.added is None else {k: last(v) for k, v in full.added.items()}
    ctx.cond = Conditioning(last(full.embeds), added, ctx.cond.layout)
    return RunOutput(ctx.denoise(ctx.new_state(_policy(ctx, identity, config))))


def encoded_prompts(story) -> list[str]:
    """The one prompt of all frames, and the identity prompt."""
    identity = compose_prompt(story.style, story.subject, "")
    return [one_prompt_text(identity, story.scenes), identity]


register(Method("1p1s", OnePromptConfig, run, run_anchors, run_extra, prompts=encoded_prompts))
