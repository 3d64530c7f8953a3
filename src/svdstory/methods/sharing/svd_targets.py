"""The `svd` method's three targets: filter what crosses between images through its spectrum."""
from __future__ import annotations

import math

import torch

from ...attention.extended import attend_shared
from ...profiling import DECOMPOSITION, FILTER_MATRICES, region
from ...spectral import basis_from_gram, filter_matrix, gram_matrix, head_route, resolve, spectral_filter
from .policy import SharedTransform


class _Filter:
    """`spectral_filter`, or with `refresh` > 1, a filter decided every `refresh` steps and applied
    in between as one fixed matrix.

    With refresh, a layer's first call decomposes its matrices (from their Gram matrix) and turns the
    spectrum function's decision into the n x n matrix V diag(f(s)/s) V^T (`filter_matrix`); each
    call then costs one product with it. Every `refresh` steps the Gram matrices of the step are set
    aside and, once the step ends (`end_step`), decomposed in one batched call per group of layers
    of one shape (two on SDXL); the new matrices serve the next `refresh` steps. A scheduled change
    of the rule (a step range, a ramp) takes effect at once, in the kept basis. One wait for the
    eigensolver per group and refresh, and a few operations per layer, keep the host ahead of the GPU.
    """

    def __init__(self, method: str, rank: int | None, refresh: int):
        self.method, self.rank, self.refresh = method, rank, refresh
        self.matrices = {}  # (layer, what) -> (filter (..., n, n), its rule, its basis); one filter per run
        self.pending = {}  # (layer, what) -> (G, fn, shape, method, rank, dtype) of this step

    def __call__(self, M, fn, key, renew: bool, method=None, rank=None):
        """Filter M; `renew`: set its Gram matrix aside for the batched decomposition after this step."""
        method, rank = method or self.method, rank or self.rank
        if self.refresh <= 1:
            with region(DECOMPOSITION):
                return spectral_filter(M, fn, method, rank)
        shape = (M.shape[-2], M.shape[-1])
        kept = self.matrices.get(key)
        fresh = kept is None or kept[0].shape[:-2] != M.shape[:-2] or kept[0].shape[-1] != shape[1]
        G = gram_matrix(M) if fresh or renew or kept[1] != fn else None  # only on the steps that need it
        if fresh:
            with region(DECOMPOSITION):
                V = basis_from_gram(G, method, rank)
            with region(FILTER_MATRICES):
                kept = self.matrices[key] = (filter_matrix(G, V, fn, shape).to(M.dtype), fn, V)
        elif kept[1] != fn:  # the schedule changed the rule (a step range, a ramp): apply it now, in the kept basis
            with region(FILTER_MATRICES):
                kept = self.matrices[key] = (filter_matrix(G, kept[2], fn, shape).to(M.dtype), fn, kept[2])
        if renew:
            self.pending[key] = (G, fn, shape, method, rank, M.dtype)
        return M @ kept[0]

    def end_step(self) -> None:
        groups = {}  # layers whose new filters come out of one batched computation
        for key, (G, fn, shape, method, rank, dtype) in self.pending.items():
            groups.setdefault((method, rank, fn, shape, dtype, G.shape[-1], G.dtype, G.device), []).append((key, G))
        for (method, rank, fn, shape, dtype, *_), items in groups.items():
            flat = torch.cat([G.reshape(-1, *G.shape[-2:]) for _, G in items])
            with region(DECOMPOSITION):
                V = basis_from_gram(flat, method, rank)
            with region(FILTER_MATRICES):
                P = filter_matrix(flat, V, fn, shape).to(dtype)
            start = 0
            for key, G in items:
                count = math.prod(G.shape[:-2])
                part = slice(start, start + count)
                self.matrices[key] = (P[part].reshape(G.shape), fn, V[part].reshape(*G.shape[:-2], *V.shape[-2:]))
                start += count
        self.pending = {}


class _FilteringTarget(SharedTransform):
    """A transform that replaces the shared keys/values by `filter_shared(call, shared, fn, filt, renew)`."""

    def __init__(self, filter_shared, spec, method: str, rank: int | None, refresh: int):
        self.filter_shared, self.spec = filter_shared, spec
        self.filt = _Filter(method, rank, refresh)

    def __call__(self, call, shared, tokens, state):
        sk, sv, _ = shared
        fn = resolve(self.spec, state.step, state.num_steps, call.layer.name)
        if fn is not None:
            step, refresh = state.step, self.filt.refresh
            renew = refresh > 1 and (step + 1) % refresh == 0 and step + 1 < state.num_steps
            sk, sv = self.filter_shared(call, shared, fn, self.filt, renew)
        return attend_shared(call, tokens, sk, sv, state)

    def end_step(self) -> None:
        self.filt.end_step()


def _filter_kv(call, shared, fn, filt, renew):
    sk, sv, _ = shared
    method, rank = head_route(sk.shape[-1], filt.method, filt.rank)
    both = torch.stack([sk, sv])  # one batched call for keys and values
    return filt(both, fn, call.layer.name, renew, method, rank).unbind(0)


def _filter_hidden(call, shared, fn, filt, renew):
    filtered = filt(shared[2], fn, call.layer.name, renew)  # (c, A*T, C)
    return call.project(filtered)


def kv_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the anchors' keys and values, each (tokens x head_dim) per guidance chunk and head."""
    return _FilteringTarget(_filter_kv, spec, method, rank, refresh)


def hidden_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the anchors' stacked hidden states (tokens x channels), then project them to keys/values."""
    return _FilteringTarget(_filter_hidden, spec, method, rank, refresh)


def attn_target(spec, method: str = "auto", rank: int | None = None, refresh: int = 1):
    """Filter the cross-image block of the attention probabilities (queries of i x anchors' keys).

    Decomposes at every step: its matrices depend on each image's queries (`refresh` is ignored)."""
    return _AttnTarget(spec, method, rank)


class _AttnTarget(SharedTransform):
    def __init__(self, spec, method: str, rank: int | None):
        self.spec, self.method, self.rank = spec, method, rank

    def __call__(self, call, shared, tokens, state):
        sk, sv, _ = shared
        fn = resolve(self.spec, state.step, state.num_steps, call.layer.name)
        if fn is None:
            return attend_shared(call, tokens, sk, sv, state)
        layout = state.layout
        bias = tokens.bias
        allowed = tokens.dense(layout.n_images, sk.shape[2], sk.device)
        outs = []
        for row in range(call.query.shape[0]):  # one image at a time bounds the (T x S) blocks in memory
            chunk, image = divmod(row, layout.n_images)
            q = call.query[row].float()  # (H, T, d)
            own = (q @ call.key[row].float().mT) * call.scale  # (H, T, T)
            cross = (q @ sk[chunk].float().mT) * call.scale + bias  # (H, T, S)
            cross = cross.masked_fill(~allowed[image].view(1, 1, -1), float("-inf"))
            top = torch.maximum(own.amax(-1, keepdim=True), cross.amax(-1, keepdim=True))
            p_own, p_cross = (own - top).exp(), (cross - top).exp()
            total = p_own.sum(-1, keepdim=True) + p_cross.sum(-1, keepdim=True)
            with region(DECOMPOSITION):
                p_cross = spectral_filter(p_cross / total, fn, self.method, self.rank)
            outs.append((p_own / total) @ call.value[row].float() + p_cross @ sv[chunk].float())
        return torch.stack(outs).to(call.query.dtype)


TARGETS = {"kv": kv_target, "hidden": hidden_target, "attn": attn_target}
