"""The one attention processor svdstory installs: diffusers' prologue/epilogue, math delegated."""
from __future__ import annotations

import torch

from .call import AttnCall
from .spatial import token_grid


def projection(attn):
    """A UNet layer's projection helper: inputs (c, T, C) of its keys -> keys, values (c, heads, T, d)."""

    def project(x: torch.Tensor):
        c, t, _ = x.shape
        key, value = (f(x).view(c, t, attn.heads, -1).transpose(1, 2) for f in (attn.to_k, attn.to_v))
        return (key if attn.norm_k is None else attn.norm_k(key)), value

    return project


class StoryAttnProcessor:
    """Holds only where its layer sits and references to the run's policy and state; the policy does the math
    and reads the state through its hooks."""

    def __init__(self, policy, state, layer):
        self.policy = policy
        self.state = state
        self.layer = layer

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch, n_tokens, _ = hidden_states.shape
        context_len = n_tokens if encoder_hidden_states is None else encoder_hidden_states.shape[1]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, context_len, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, T, d)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, S, d)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        grid = token_grid(n_tokens, self.state.latent_hw)
        call = AttnCall(self.layer, projection(attn), query, key, value, grid, hidden_states, attention_mask,
                        attn.scale)
        policy, state = self.policy, self.state
        cross = self.layer.kind == "cross"
        out = policy.cross_attention(call, state) if cross else policy.self_attention(call, state)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)  # (B, T, C)
        out = attn.to_out[1](attn.to_out[0](out))
        out = policy.after_attention(call, out, state)

        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor
