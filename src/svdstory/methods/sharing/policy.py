"""Mask-free extended self-attention: own tokens plus the anchors' tokens, optionally transformed.

`shared`, `svd` and `storydiffusion` differ only in what the anchors' tokens look like when they
arrive (`transform`) and which of them each image may see (`select`).
"""
from __future__ import annotations

import dataclasses

import torch

from ...attention.call import AttnCall, sdpa
from ...attention.extended import AnchorSlots, anchor_keys, attend_shared, compact
from ...attention.policy import PlainPolicy
from ...attention.spatial import check_parts_match
from ...attention.transfer import pick_images
from ...state import BatchLayout
from ...steps import in_window
from .pooling import pool_bias, pool_tokens, poolable


class SharedTransform:
    """How an image attends to the shared tokens: plain extended attention; the `svd` method filters them."""

    def __call__(self, call: AttnCall, shared, tokens, state) -> torch.Tensor:
        """shared: (sk, sv, hidden) of the anchors; tokens: the `SharedTokens` each image may see."""
        sk, sv, _ = shared
        return attend_shared(call, tokens, sk, sv, state)

    def end_step(self) -> None:
        """Called once a sampler step ends (the svd filter refreshes its bases here)."""


class SharePolicy(PlainPolicy):
    """Sharing in the self-attention layers of `parts` during the `steps` window.

    transform: a `SharedTransform`, how shared tokens are attended;
    select(call, state, shape) -> (n, S) bool on the host: the shared tokens each image may see (None: all).
    With a `recorder` the anchors' tokens are recorded for extras; with a `replay` they come from it.
    """

    def __init__(self, parts, steps, anchors, transform=None, select=None, recorder=None, replay=None,
                 keep_hidden=False, uncond=True, pool=1):
        self.parts = parts
        self.steps = steps
        self.anchors = anchors  # image indices whose tokens are shared ([] when replaying a cache)
        self.transform = transform or SharedTransform()
        self.select = select
        self.recorder, self.replay = recorder, replay
        self.keep_hidden = keep_hidden  # the `hidden` spectral target needs the anchors' inputs
        self.uncond = uncond  # share in the unconditional half of guidance too (False: plain attention there)
        self.pool = pool  # average the anchors' tokens over pool x pool patches (1: every token)

    def _active(self, call: AttnCall, state) -> bool:
        return call.layer.within(self.parts) and in_window(state.step, state.num_steps, self.steps)

    def _shared_tokens(self, call: AttnCall, state):
        """((sk, sv, hidden), tokens) from this batch's anchors or from the anchor cache."""
        key = (call.layer.name, state.step)
        n = state.layout.n_images
        pooled = poolable(call.grid, self.pool)
        bias = pool_bias(self.pool) if pooled else 0.0
        if self.replay is not None:
            shared = self.replay.kv(key, call.query.device)
            tokens = AnchorSlots((), bias)
        else:
            layout = state.layout
            hidden = _anchor_hidden(call, layout, self.anchors) if self.keep_hidden else None
            keys = lambda x: anchor_keys(x, layout, self.anchors)  # (chunks, H, A*T, d): image tokens only
            shared = (keys(call.image_key), keys(call.image_value), hidden)
            if pooled:
                shared = tuple(None if x is None else pool_tokens(x, call.grid, len(self.anchors), self.pool)
                               for x in shared)
            if self.recorder is not None:
                self.recorder.record_kv(key, shared)
            tokens = AnchorSlots(tuple(self.anchors), bias)
        if self.select is not None:  # (methods with a select do not pool); built on the host: no sync
            allowed = tokens.dense(n, shared[0].shape[2], "cpu")
            # compacted into groups: a pattern new at every layer costs more to pack than packing saves
            tokens = compact(allowed & self.select(call, state, tuple(allowed.shape)).cpu(), call.query.device)
        return shared, tokens

    def check_layers(self, layers) -> None:
        check_parts_match(self.parts, layers, "parts")

    def end_step(self, state) -> None:
        self.transform.end_step()

    def joint_attention(self, call: AttnCall, state) -> torch.Tensor:
        """On a joint layer (FLUX) only the anchors' image tokens are shared, never their text tokens: every
        token of an image, text or image, attends to its own tokens and to those."""
        return self.self_attention(call, state)

    def self_attention(self, call: AttnCall, state) -> torch.Tensor:
        if not self._active(call, state):
            return sdpa(call)
        if self.uncond or not state.layout.cfg or call.attention_mask is not None:
            shared, tokens = self._shared_tokens(call, state)
            return self.transform(call, shared, tokens, state)
        n = state.layout.n_images  # rows are [uncond x n, cond x n]: share among the cond rows only
        cond = _rows(call, slice(n, None))
        cond_state = dataclasses.replace(state, layout=BatchLayout(n, False))
        shared, tokens = self._shared_tokens(cond, cond_state)
        return torch.cat([sdpa(_rows(call, slice(0, n))), self.transform(cond, shared, tokens, cond_state)])


def _rows(call: AttnCall, rows: slice) -> AttnCall:
    return dataclasses.replace(call, query=call.query[rows], key=call.key[rows], value=call.value[rows],
                               hidden_states=call.hidden_states[rows])


def _anchor_hidden(call: AttnCall, layout, anchors) -> torch.Tensor:
    """(chunks, A*T, C): the anchors' normalised hidden states, the input of to_k / to_v."""
    split = pick_images(layout.split(call.hidden_states), anchors)  # (c, A, T, C)
    return split.reshape(split.shape[0], -1, split.shape[-1])
