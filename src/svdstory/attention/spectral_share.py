"""The `svd` method's three targets: filter what crosses between images through its spectrum."""
from __future__ import annotations

import torch

from ..spectral import resolve, spectral_filter
from .sdsa import attend_shared


def _heads(x: torch.Tensor, attn) -> torch.Tensor:
    """(c, S, heads*d) -> (c, heads, S, d), with the layer's key norm if it has one."""
    c, s, inner = x.shape
    return x.view(c, s, attn.heads, inner // attn.heads).transpose(1, 2)


def _filtering_target(filter_shared, spec, method: str, rank: int | None):
    """A transform that replaces the shared keys/values by `filter_shared(call, shared, fn, method, rank)`."""

    def transform(call, shared, allowed, state):
        sk, sv, _ = shared
        fn = resolve(spec, state.step, state.num_steps, call.layer.name)
        if fn is not None:
            sk, sv = filter_shared(call, shared, fn, method, rank)
        return attend_shared(call, sk, sv, allowed, state)

    return transform


def _filter_kv(call, shared, fn, method, rank):
    sk, sv, _ = shared
    return spectral_filter(sk, fn, method, rank), spectral_filter(sv, fn, method, rank)


def _filter_hidden(call, shared, fn, method, rank):
    filtered = spectral_filter(shared[2], fn, method, rank)  # (c, A*T, C)
    sk, sv = _heads(call.attn.to_k(filtered), call.attn), _heads(call.attn.to_v(filtered), call.attn)
    return (sk if call.attn.norm_k is None else call.attn.norm_k(sk)), sv


def kv_target(spec, method: str = "auto", rank: int | None = None):
    """Filter the anchors' keys and values, each (tokens x head_dim) per guidance chunk and head."""
    return _filtering_target(_filter_kv, spec, method, rank)


def hidden_target(spec, method: str = "auto", rank: int | None = None):
    """Filter the anchors' stacked hidden states (tokens x channels), then project them to keys/values."""
    return _filtering_target(_filter_hidden, spec, method, rank)


def attn_target(spec, method: str = "auto", rank: int | None = None):
    """Filter the cross-image block of the attention probabilities (queries of i x anchors' keys)."""

    def transform(call, shared, allowed, state):
        sk, sv, _ = shared
        fn = resolve(spec, state.step, state.num_steps, call.layer.name)
        if fn is None:
            return attend_shared(call, sk, sv, allowed, state)
        layout = state.layout
        outs = []
        for row in range(call.query.shape[0]):  # one image at a time bounds the (T x S) blocks in memory
            chunk, image = divmod(row, layout.n_images)
            q = call.query[row].float()  # (H, T, d)
            own = (q @ call.key[row].float().mT) * call.attn.scale  # (H, T, T)
            cross = (q @ sk[chunk].float().mT) * call.attn.scale  # (H, T, S)
            if allowed is not None:
                cross = cross.masked_fill(~allowed[image].view(1, 1, -1), float("-inf"))
            top = torch.maximum(own.amax(-1, keepdim=True), cross.amax(-1, keepdim=True))
            p_own, p_cross = (own - top).exp(), (cross - top).exp()
            total = p_own.sum(-1, keepdim=True) + p_cross.sum(-1, keepdim=True)
            p_cross = spectral_filter(p_cross / total, fn, method, rank)
            outs.append((p_own / total) @ call.value[row].float() + p_cross @ sv[chunk].float())
        return torch.stack(outs).to(call.query.dtype)

    return transform


TARGETS = {"kv": kv_target, "hidden": hidden_target, "attn": attn_target}
