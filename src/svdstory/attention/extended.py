"""Extended self-attention: image i's queries attend to its own keys and to shared keys (the anchors'
tokens). The anchors' tokens side by side (`anchor_keys`), and the set of them each image may see as one type
with one operation, `attend`. Which shared tokens each image sees takes one of four forms, each attending its
own way:
`AllTokens` (every shared token), `AnchorSlots` (every anchor but oneself: slices only), `Compacted`
(index lists per group of images) and `Packed` (one variable-length call over the batch's own keys).
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.attention import sdpa_kernel

from ..profiling import ANCHOR_TOKENS, EXTENDED_ATTENTION, region
from .kernels import VARIABLE_LENGTH, attend_groups, packed_attention, sdpa_chunked, varlen_runs
from .transfer import pick_images, to_device


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
