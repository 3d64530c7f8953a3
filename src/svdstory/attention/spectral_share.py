"""The `svd` method's three targets: filter what crosses between images through its spectrum."""
from __future__ import annotations

import torch

from ..spectral import filter_in_basis, head_route, resolve, right_basis, spectral_filter
from .sdsa import AnchorSlots, attend_shared


def _heads(x: torch.Tensor, attn) -> torch.Tensor:
    """(c, S, heads*d) -> (c, heads, S, d), with the layer's key norm if it has one."""
    c, s, inner = x.shape
    return x.view(c, s, attn.heads, inner // attn.heads).transpose(1, 2)


class _Filter:
    """`spectral_filter` that, with `refresh` > 1, decomposes a layer's matrices only every `refresh`
    steps and in between filters in the right singular basis it kept (see `filter_in_basis`)."""

    def __init__(self, method: str, rank: int | None, refresh: int):
        self.method, self.rank, self.refresh = method, rank, refresh
        self.bases = {}  # (layer, what) -> (step, V); one filter per run, so no state leaks between runs

    def __call__(self, M, fn, key, step, method=None, rank=None):
        method, rank = method or self.method, rank or self.rank
        if self.refresh <= 1:
            return spectral_filter(M, fn, method, rank)
        kept = self.bases.get(key)
        if kept is None or step - kept[0] >= self.refresh or step < kept[0] or kept[1].shape[:-2] != M.shape[:-2]:
            kept = self.bases[key] = (step, right_basis(M, method, rank))
        return filter_in_basis(M, fn, kept[1])


def _filtering_target(filter_shared, spec, method: str, rank: int | None, refresh: int):
    """A transform that replaces the shared keys/values by `filter_shared(call, shared, fn, filt, step)`."""
    filt = _Filter(method, rank, refresh)

    def transform(call, shared, allowed, state):
        sk, sv, _ = shared
        fn = resolve(spec, state.step, state.num_steps, call.layer.name)
        if fn is not None:
            sk, sv = filter_shared(call, shared, fn, filt, state.step)
        return attend_shared(call, sk, sv, allowed, state)

    return transform


def _filter_kv(call, shared, fn, filt, step):
    sk, sv, _ = shared
    method, rank = head_route(sk.shape[-1], filt.method, filt.rank)
    both = torch.stack([sk, sv])  # one batched call for keys and values
    return filt(both, fn, call.layer.name, step, method, rank).unbind(0)


def _filter_hidden(call, shared, fn, filt, step):
    filtered = filt(shared[2], fn, call.layer.name, step)  # (c, A*T, C)
    sk, sv = _heads(call.attn.to_k(filtered), call.attn), _heads(call.attn.to_v(filtered), call.attn)
    return (sk if call.attn.norm_k is None else call.attn.norm_k(sk)), sv


def kv_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the anchors' keys and values, each (tokens x head_dim) per guidance chunk and head."""
    return _filtering_target(_filter_kv, spec, method, rank, refresh)


def hidden_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the anchors' stacked hidden states (tokens x channels), then project them to keys/values."""
    return _filtering_target(_filter_hidden, spec, method, rank, refresh)


def attn_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the cross-image block of the attention probabilities (queries of i x anchors' keys).

    Decomposes at every step: its matrices depend on each image's queries (`refresh` is ignored)."""

    def transform(call, shared, allowed, state):
        sk, sv, _ = shared
        fn = resolve(spec, state.step, state.num_steps, call.layer.name)
        if fn is None:
            return attend_shared(call, sk, sv, allowed, state)
        layout = state.layout
        bias = 0.0
        if isinstance(allowed, AnchorSlots):
            bias, allowed = allowed.bias, allowed.dense(layout.n_images, sk.shape[2], sk.device)
        outs = []
        for row in range(call.query.shape[0]):  # one image at a time bounds the (T x S) blocks in memory
            chunk, image = divmod(row, layout.n_images)
            q = call.query[row].float()  # (H, T, d)
            own = (q @ call.key[row].float().mT) * call.attn.scale  # (H, T, T)
            cross = (q @ sk[chunk].float().mT) * call.attn.scale + bias  # (H, T, S)
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
