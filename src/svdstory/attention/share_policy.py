"""Mask-free extended self-attention: own tokens plus the anchors' tokens, optionally transformed.

`shared`, `svd` and `storydiffusion` differ only in what the anchors' tokens look like when they
arrive (`transform`) and which of them each image may see (`select`).
"""
from __future__ import annotations

import dataclasses

import torch

from ..state import BatchLayout
from ..steps import in_window
from .policy import AttnCall, PlainPolicy, sdpa
from .pooling import pool_bias, pool_tokens, poolable
from .sdsa import AnchorSlots, anchor_keys, attend_shared, compact, pick_images
from .spatial import check_parts_match


def plain_shared(call: AttnCall, shared, allowed, state) -> torch.Tensor:
    sk, sv, _ = shared
    return attend_shared(call, sk, sv, allowed, state)


class SharePolicy(PlainPolicy):
    """Sharing in the self-attention layers of `parts` during the `steps` window.

    transform(call, (sk, sv, hidden), allowed, state) -> output: how shared tokens are attended;
    select(call, state, shape) -> (n, S) bool on the host: the shared tokens each image may see (None: all).
    """

    def __init__(self, parts, steps, anchors, transform=plain_shared, select=None, cache=None, keep_hidden=False,
                 uncond=True, pool=1):
        self.parts = parts
        self.steps = steps
        self.anchors = anchors  # image indices whose tokens are shared ([] when replaying a cache)
        self.transform = transform
        self.select = select
        self.cache = cache
        self.keep_hidden = keep_hidden  # the `hidden` spectral target needs the anchors' inputs
        self.uncond = uncond  # share in the unconditional half of guidance too (False: plain attention there)
        self.pool = pool  # average the anchors' tokens over pool x pool patches (1: every token)
        self.state = None

    def _active(self, call: AttnCall) -> bool:
        return call.layer.within(self.parts) and in_window(self.state.step, self.state.num_steps, self.steps)

    def _shared_tokens(self, call: AttnCall, state):
        """((sk, sv, hidden), allowed) from this batch's anchors or from the anchor cache."""
        key = (call.layer.name, state.step)
        n = state.layout.n_images
        pooled = poolable(call.grid, self.pool)
        bias = pool_bias(self.pool) if pooled else 0.0
        if self.cache is not None and self.cache.mode == "use":
            shared = tuple(None if x is None else x.to(call.query.device) for x in self.cache.kv[key])
            allowed = AnchorSlots((), bias)
        else:
            layout = state.layout
            hidden = _anchor_hidden(call, layout, self.anchors) if self.keep_hidden else None
            shared = (anchor_keys(call.key, layout, self.anchors), anchor_keys(call.value, layout, self.anchors), hidden)
            if pooled:
                shared = tuple(None if x is None else pool_tokens(x, call.grid, len(self.anchors), self.pool)
                               for x in shared)
            if self.cache is not None:
                self.cache.kv[key] = tuple(None if x is None else self.cache.keep(x) for x in shared)
            allowed = AnchorSlots(tuple(self.anchors), bias)
        if self.select is not None:  # (methods with a select do not pool); built on the host: no sync
            allowed = allowed.dense(n, shared[0].shape[2], "cpu")
            # compacted into groups: a pattern new at every layer costs more to pack than packing saves
            allowed = compact(allowed & self.select(call, state, tuple(allowed.shape)).cpu(), call.query.device)
        return shared, allowed

    def check_layers(self, layers) -> None:
        check_parts_match(self.parts, layers, "parts")

    def end_step(self, state) -> None:
        end = getattr(self.transform, "end_step", None)  # e.g. the svd filter's batched basis refresh
        if end is not None:
            end()

    def self_attention(self, call: AttnCall) -> torch.Tensor:
        if not self._active(call):
            return sdpa(call)
        state = self.state
        if self.uncond or not state.layout.cfg or call.attention_mask is not None:
            shared, allowed = self._shared_tokens(call, state)
            return self.transform(call, shared, allowed, state)
        n = state.layout.n_images  # rows are [uncond x n, cond x n]: share among the cond rows only
        cond = _rows(call, slice(n, None))
        cond_state = dataclasses.replace(state, layout=BatchLayout(n, False))
        shared, allowed = self._shared_tokens(cond, cond_state)
        return torch.cat([sdpa(_rows(call, slice(0, n))), self.transform(cond, shared, allowed, cond_state)])


def _rows(call: AttnCall, rows: slice) -> AttnCall:
    return dataclasses.replace(call, query=call.query[rows], key=call.key[rows], value=call.value[rows],
                               hidden_states=call.hidden_states[rows])


def _anchor_hidden(call: AttnCall, layout, anchors) -> torch.Tensor:
    """(chunks, A*T, C): the anchors' normalised hidden states, the input of to_k / to_v."""
    split = pick_images(layout.split(call.hidden_states), anchors)  # (c, A, T, C)
    return split.reshape(split.shape[0], -1, split.shape[-1])
