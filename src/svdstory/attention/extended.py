"""Extended self-attention: image i's queries attend to its own keys and to shared keys (the anchors' tokens).

The kernels (SDPA over [own | shared] keys per group of images, chunked over queries, and the packed
variable-length call), the anchors' tokens side by side (`anchor_keys`), and the set of them each image may see
as one type with one operation, `attend`, in one of four forms, each attending its own way: `AllTokens` (every
shared token), `AnchorSlots` (every anchor but oneself: slices only), `Compacted` (index lists per group of
images) and `Packed` (one variable-length call over the batch's own keys).
"""
from __future__ import annotations

import contextlib
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..profiling import ANCHOR_TOKENS, EXTENDED_ATTENTION, region
from .transfer import pick_images, to_device


# Kernels for key lengths that change from call to call (masked sharing): cuDNN's attention builds
# an execution plan per shape, which costs more than the attention when every call has a new length.
VARIABLE_LENGTH = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def _varlen():
    """PyTorch's variable-length attention (`torch.nn.attention.varlen`, 2.10+ with a `scale`), or None."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn if "scale" in inspect.signature(varlen_attn).parameters else None


VARLEN = _varlen()


def varlen_runs(q: torch.Tensor) -> bool:
    """Whether PyTorch's variable-length attention runs on this tensor (a GPU, half precision)."""
    return VARLEN is not None and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16)


def sdpa_chunked(q, keys, values, mask, scale, chunk: int | None) -> torch.Tensor:
    """SDPA with at most `chunk` queries per call, which bounds memory where a kernel materialises scores."""
    if not chunk or chunk >= q.shape[2]:
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale)
    parts = [F.scaled_dot_product_attention(q[:, :, i:i + chunk], keys, values, attn_mask=mask, scale=scale)
             for i in range(0, q.shape[2], chunk)]
    return torch.cat(parts, dim=2)


def attend_groups(q, k, v, groups, layout, scale, chunk) -> torch.Tensor:
    """Attention of each group of consecutive images over [own tokens | the group's shared tokens].

    groups: (start, stop, sk, sv, bias) with sk/sv (chunks, H, L, d) seen by images start..stop-1 of
    every guidance chunk, and a logit bias on them (0: none). Without a bias, SDPA runs unmasked and
    can take its flash kernel; the order of keys does not change attention.
    """
    c = layout.chunks
    qs, ks, vs = (layout.split(x) for x in (q, k, v))  # (c, n, H, T, d)
    outs = []
    for start, stop, sk, sv, bias in groups:
        m = stop - start
        rows = lambda x: x[:, start:stop].reshape(c * m, *x.shape[2:])  # (c*m, H, T, d)
        # [own | shared] built in one copy: the 5-D cat writes (c, m, H, T+L, d), a view of (c*m, H, T+L, d)
        extend = lambda x, shared: torch.cat([x[:, start:stop], shared.unsqueeze(1).expand(c, m, *shared.shape[1:])],
                                             dim=3).view(c * m, *x.shape[2:3], -1, x.shape[-1])
        keys, values = extend(ks, sk), extend(vs, sv)
        mask = None
        if bias and sk.shape[2]:  # a float mask: 0 on own tokens, the bias on shared ones
            mask = torch.full((1, 1, 1, keys.shape[2]), bias, dtype=q.dtype, device=q.device)
            mask[..., :ks.shape[3]] = 0
        outs.append(sdpa_chunked(rows(qs), keys, values, mask, scale, chunk).view(c, m, *qs.shape[2:]))
    return layout.merge(torch.cat(outs, dim=1))


def packed_attention(q, k, v, index, cu_q, cu_k, lengths, scale) -> torch.Tensor:
    """Attention of every batch row over its packed keys (`index` into the batch's B*T tokens, offsets
    cu_q/cu_k, `lengths` keys per row on the host); q, k, v (B, H, T, d) -> (B, H, T, d)."""
    B, H, T, d = q.shape
    flat = lambda x: x.transpose(1, 2).reshape(B * T, H, d)  # a view for the processor's (B, T, H, d) storage
    keys, values = flat(k).index_select(0, index), flat(v).index_select(0, index)
    if varlen_runs(q):
        out = VARLEN(flat(q), keys, values, cu_q, cu_k, T, max(lengths), scale=scale)
        return out.view(B, T, H, d).transpose(1, 2)
    # one call per row where the variable-length kernel does not run (the reference for tests)
    starts = [0, *torch.tensor(lengths).cumsum(0).tolist()]
    rows = [F.scaled_dot_product_attention(q[b], keys[starts[b]:starts[b + 1]].transpose(0, 1),
                                           values[starts[b]:starts[b + 1]].transpose(0, 1), scale=scale)
            for b in range(B)]
    return torch.stack(rows)


def anchor_keys(x: torch.Tensor, layout, anchors: list[int]) -> torch.Tensor:
    """(chunks*n, H, T, d) -> (chunks, H, A*T, d): the anchors' tokens of each guidance chunk, side by side."""
    with region(ANCHOR_TOKENS):
        split = pick_images(layout.split(x), anchors)  # (c, A, H, T, d)
        c, a, h, t, d = split.shape
        return split.permute(0, 2, 1, 3, 4).reshape(c, h, a * t, d)


def allowed_anchor_tokens(share: torch.Tensor, anchors: list[int], n_images: int) -> torch.Tensor:
    """(n, A*T) bool: image i may see anchor a's token p if it is in a's (dropped-out) mask and a != i."""
    mask = pick_images(share.unsqueeze(0), anchors)[0].reshape(1, -1).expand(n_images, -1).clone()  # (n, A*T)
    T = share.shape[1]
    for slot, a in enumerate(anchors):
        if a < n_images:
            mask[a, slot * T:(slot + 1) * T] = False
    return mask


class SharedTokens(ABC):
    """Which shared tokens each image sees, and attention over [own | those] tokens."""

    reads_shared = True  # False: `attend` gathers the shared tokens from k and v (callers pass None)
    bias = 0.0  # logit bias of every shared token

    @abstractmethod
    def attend(self, q, k, v, shared_k, shared_v, layout, scale, chunk: int | None = None) -> torch.Tensor:
        """q, k, v: (chunks*n, H, T, d); shared_k/v: (chunks, H, S, d), the same for every image of a chunk.
        `chunk` bounds the queries per SDPA call. Returns (chunks*n, H, T, d)."""

    @abstractmethod
    def dense(self, n_images: int, n_shared: int, device) -> torch.Tensor:
        """(n, S) bool: the pattern as a mask (for math that needs it written out)."""


@dataclass(frozen=True)
class AllTokens(SharedTokens):
    """Every image sees every shared token (a replayed cache already holds only the tokens to share)."""

    def attend(self, q, k, v, shared_k, shared_v, layout, scale, chunk=None):
        c, n = layout.chunks, layout.n_images
        B, H, T, d = k.shape
        sk = shared_k.unsqueeze(1).expand(c, n, *shared_k.shape[1:]).reshape(B, H, -1, d)
        sv = shared_v.unsqueeze(1).expand(c, n, *shared_v.shape[1:]).reshape(B, H, -1, d)
        return sdpa_chunked(q, torch.cat([k, sk], dim=2), torch.cat([v, sv], dim=2), None, scale, chunk)

    def dense(self, n_images, n_shared, device):
        return torch.ones(n_images, n_shared, dtype=torch.bool, device=device)


@dataclass(frozen=True)
class AnchorSlots(SharedTokens):
    """Every image sees every anchor slot of the shared tokens except its own copy.

    The same pattern as `allowed_anchor_tokens` with nothing masked inside a slot, but kept as
    structure: rows are grouped by the slot they skip, so attention runs without a mask and SDPA
    can take its flash kernel.
    """

    anchors: tuple[int, ...]  # image index of each slot ((): a replayed cache, every row sees all)
    bias: float = 0.0  # logit bias of every shared token (pooled tokens: log of the tokens each stands for)

    def dense(self, n_images, n_shared, device):
        if not self.anchors:
            return torch.ones(n_images, n_shared, dtype=torch.bool, device=device)
        everything = torch.ones(max(n_images, *self.anchors) + 1, n_shared // len(self.anchors), dtype=torch.bool,
                                device=device)  # (images, tokens of one slot)
        return allowed_anchor_tokens(everything, list(self.anchors), n_images)

    def attend(self, q, k, v, shared_k, shared_v, layout, scale, chunk=None):
        """Rows that are not anchors see every slot, the anchor of slot j all slots but j. Only slices: no
        index tensors, nothing that waits for the device."""
        n, S = layout.n_images, shared_k.shape[2]
        width = S // len(self.anchors) if self.anchors else S
        skips = {a: j for j, a in enumerate(self.anchors) if a < n}  # image -> the slot it must not see
        groups = []
        for start, stop in runs(n, lambda i, j: skips.get(i) == skips.get(j)):  # images that see the same slots
            skip = skips.get(start)
            lo, hi = (0, 0) if skip is None else (skip * width, (skip + 1) * width)  # the slot it skips
            seen = lambda x: x if hi == lo else x[:, :, hi:] if lo == 0 else x[:, :, :lo] if hi == S else \
                torch.cat([x[:, :, :lo], x[:, :, hi:]], dim=2)
            groups.append((start, stop, seen(shared_k), seen(shared_v), self.bias))
        return attend_groups(q, k, v, groups, layout, scale, chunk)


@dataclass(frozen=True)
class Compacted(SharedTokens):
    """The shared tokens each image may see, as index lists instead of a mask: consecutive images
    that see the same tokens form a group, and each group is one mask-free attention call."""

    groups: tuple[tuple[int, int], ...]  # (start, stop) image ranges
    indices: tuple[torch.Tensor, ...]  # per group, (k,) positions in the shared tokens, on the device

    def attend(self, q, k, v, shared_k, shared_v, layout, scale, chunk=None):
        groups = [(start, stop, shared_k[:, :, idx], shared_v[:, :, idx], 0.0)
                  for (start, stop), idx in zip(self.groups, self.indices)]
        with sdpa_kernel(VARIABLE_LENGTH) if q.is_cuda else contextlib.nullcontext():
            return attend_groups(q, k, v, groups, layout, scale, chunk)

    def dense(self, n_images, n_shared, device):
        mask = torch.zeros(n_images, n_shared, dtype=torch.bool, device=device)
        for (start, stop), idx in zip(self.groups, self.indices):
            mask[start:stop, idx.to(device)] = True
        return mask


@dataclass(frozen=True)
class Packed(SharedTokens):
    """Masked sharing as one variable-length attention call: every row of the batch attends to its own
    tokens followed by the shared tokens it may see, both gathered from the batch's own keys (the
    anchors' tokens are rows of the same tensor), so no group needs a call of its own."""

    index: torch.Tensor  # (total keys,) positions on the batch's (B*T) token axis, on the device
    cu_q: torch.Tensor  # (B+1,) int32 offsets of each row's queries in the packed queries
    cu_k: torch.Tensor  # (B+1,) int32 offsets of each row's keys in the packed keys
    lengths: tuple[int, ...]  # keys per row (host copy)
    reads_shared = False

    def attend(self, q, k, v, shared_k, shared_v, layout, scale, chunk=None):
        """shared_k/v are unused: the anchors' tokens are gathered from k and v themselves."""
        return packed_attention(q, k, v, self.index, self.cu_q, self.cu_k, self.lengths, scale)

    def dense(self, n_images, n_shared, device):
        raise NotImplementedError("a packed pattern indexes the batch's own keys, not a shared block")


def attend_shared(call, tokens: SharedTokens, shared_k, shared_v, state, query=None) -> torch.Tensor:
    """`tokens.attend` for one processor call (its projections, scale and the run's chunking)."""
    with region(EXTENDED_ATTENTION):
        return tokens.attend(call.query if query is None else query, call.key, call.value, shared_k, shared_v,
                             state.layout, call.scale, state.attention_chunk)


def compact(allowed: torch.Tensor, device) -> Compacted:
    """`Compacted` form of an (n, S) bool pattern, its indices placed on `device`. Reads the pattern
    on the host: one wait for the GPU if it lives there (build it once per step and grid)."""
    rows = allowed.cpu()
    groups = runs(rows.shape[0], lambda i, j: torch.equal(rows[i], rows[j]))
    return Compacted(groups, tuple(to_device(rows[start].nonzero().squeeze(1), device) for start, _ in groups))


def pack(allowed: torch.Tensor, anchors, layout, tokens: int, device) -> Packed:
    """`Packed` form of an (n, A*T) pattern over the anchors' tokens (slot j: image anchors[j]) of the
    same batch. Built on the host from a host copy of the pattern (one wait if it lives on a GPU), with
    NumPy (microseconds per row) and sent to the device in one copy."""
    rows, n, T = allowed.cpu().numpy(), layout.n_images, tokens
    # position of slot j's token p inside one guidance chunk of the batch
    source = (np.repeat(np.asarray(anchors, dtype=np.int64), T) * T + np.tile(np.arange(T), len(anchors)))
    pieces, lengths = [], []
    for c in range(layout.chunks):
        for i in range(n):
            b = c * n + i
            seen = source[rows[i]] + c * n * T
            pieces += [np.arange(b * T, (b + 1) * T), seen]
            lengths.append(T + seen.size)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    starts = np.arange(len(lengths) + 1) * T
    both = to_device(torch.from_numpy(np.concatenate([starts, offsets, *pieces])), device)  # one copy
    B = len(lengths)
    return Packed(both[2 * (B + 1):], both[:B + 1].to(torch.int32), both[B + 1:2 * (B + 1)].to(torch.int32),
                  tuple(lengths))


def packs(q: torch.Tensor, chunk: int | None) -> bool:
    """Whether masked sharing runs as one `Packed` call: the variable-length kernel runs on this tensor
    and queries are not chunked."""
    return varlen_runs(q) and not chunk


def runs(n: int, same) -> tuple[tuple[int, int], ...]:
    """(start, stop) ranges of consecutive items 0..n-1 with `same(i, start)` for every i in a range."""
    found, start = [], 0
    while start < n:
        stop = start + 1
        while stop < n and same(stop, start):
            stop += 1
        found.append((start, stop))
        start = stop
    return tuple(found)
