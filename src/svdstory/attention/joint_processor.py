"""svdstory's processor for joint text-image attention (FLUX.1's double and single blocks, SD3's MMDiT blocks).

Projections, norms and rotary embeddings as diffusers' `FluxAttnProcessor` and `JointAttnProcessor2_0`; the
attention itself is the policy's, over the same `AttnCall` the UNet processor hands it: `joint_attention` where
text and image tokens attend together, `self_attention` on SD3.5's image-only second attention (`attn2`).
"""
from __future__ import annotations

import math

import torch

from .call import AttnCall, image_tokens


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.unflatten(-1, (heads, -1))  # (B, S, heads, d)


def _norm(norm, x: torch.Tensor) -> torch.Tensor:
    return x if norm is None else norm(x)


def _rotary(x: torch.Tensor, rotary) -> torch.Tensor:
    """FLUX's rotary position embedding on (B, S, heads, d) tokens; rotary (cos, sin) each (S, d), or None."""
    from diffusers.models.embeddings import apply_rotary_emb

    return x if rotary is None else apply_rotary_emb(x, rotary, sequence_dim=1)


def joint_projection(attn, image_rotary):
    """The projection helper of a joint layer: image-stream inputs (c, k*T, C), k whole images of the layer's T
    tokens, -> keys, values (c, heads, k*T, d), with its key norm and the rotary embedding of the image positions.
    image_rotary: (cos, sin) of the image tokens, each (T, d), or None (SD3)."""

    def project(x: torch.Tensor):
        key, value = _heads(attn.to_k(x), attn.heads), _heads(attn.to_v(x), attn.heads)  # (c, S, heads, d)
        key = _norm(attn.norm_k, key)
        if image_rotary is not None:
            from ..errors import SvdStoryError

            images, rest = divmod(x.shape[1], image_rotary[0].shape[0])
            if rest:
                raise SvdStoryError("tokens that do not stand for image positions (anchor_pool > 1 with the hidden "
                                    "target) cannot be projected on a model with rotary embeddings")
            key = _rotary(key, tuple(f.repeat(images, 1) for f in image_rotary))
        return key.transpose(1, 2), value.transpose(1, 2)

    return project


class JointStoryProcessor:
    """Holds only where its layer sits and references to the run's policy and state, as StoryAttnProcessor.

    text_first: the text tokens come before the image tokens in the joint sequence (FLUX) or after them (SD3)."""

    def __init__(self, policy, state, layer, text_first: bool):
        self.policy = policy
        self.state = state
        self.layer = layer
        self.text_first = text_first

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None):
        heads, grid = attn.heads, self.layer.grid(self.state.latent_hw)
        query = _norm(attn.norm_q, _heads(attn.to_q(hidden_states), heads))  # (B, S, heads, d)
        key = _norm(attn.norm_k, _heads(attn.to_k(hidden_states), heads))
        value = _heads(attn.to_v(hidden_states), heads)
        text_len = hidden_states.shape[1] - grid[0] * grid[1]  # FLUX's single-stream blocks lead with the text
        if encoder_hidden_states is not None:  # a dual-stream block: the text has projections of its own
            text_len = encoder_hidden_states.shape[1]
            text_q = _norm(attn.norm_added_q, _heads(attn.add_q_proj(encoder_hidden_states), heads))
            text_k = _norm(attn.norm_added_k, _heads(attn.add_k_proj(encoder_hidden_states), heads))
            text_v = _heads(attn.add_v_proj(encoder_hidden_states), heads)
            order = (lambda text, image: (text, image)) if self.text_first else (lambda text, image: (image, text))
            query, key, value = (torch.cat(order(t, i), dim=1) for t, i in ((text_q, query), (text_k, key),
                                                                              (text_v, value)))
        query, key = _rotary(query, image_rotary_emb), _rotary(key, image_rotary_emb)
        q, k, v = (x.transpose(1, 2) for x in (query, key, value))  # (B, heads, S, d)
        image = image_tokens(text_len, self.text_first)
        image_rotary = None if image_rotary_emb is None else tuple(f[image] for f in image_rotary_emb)
        image_input = hidden_states if encoder_hidden_states is not None else hidden_states[:, image]  # (B, T, C)
        scale = 1 / math.sqrt(q.shape[-1])  # SDPA's default, spelled out for the policies that compute scores
        call = AttnCall(self.layer, joint_projection(attn, image_rotary), q, k, v, grid, image_input, attention_mask,
                        scale, text_len, self.text_first)

        policy, state = self.policy, self.state
        out = policy.joint_attention(call, state) if text_len else policy.self_attention(call, state)
        out = out.transpose(1, 2).flatten(2, 3).to(query.dtype)  # (B, S, heads * d)
        if encoder_hidden_states is None and attn.pre_only:  # FLUX's single block projects after its MLP
            image_out = out[:, image]
            own = policy.after_attention(call, image_out, state)
            return out if own is image_out else torch.cat([out[:, call.text], own], dim=1)
        text, own = out[:, call.text].contiguous(), out[:, image].contiguous()
        own = policy.after_attention(call, attn.to_out[1](attn.to_out[0](own)), state)
        if encoder_hidden_states is None:
            return own
        return own, (text if attn.to_add_out is None else attn.to_add_out(text))
