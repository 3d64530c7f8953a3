"""Subject-driven self-attention: each image's queries see their own tokens plus shared subject tokens."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AnchorSlots:
    """Every image sees every anchor slot of the shared tokens except its own copy.

    The same pattern as `allowed_anchor_tokens` with nothing masked inside a slot, but kept as
    structure: rows are grouped by the slot they skip, so attention runs without a mask and SDPA
    can take its flash kernel.
    """

    anchors: tuple[int, ...]  # image index of each slot ((): a replayed cache, every row sees all)
    bias: float = 0.0  # logit bias of every shared token (pooled tokens: log of the tokens each stands for)

    def dense(self, n_images: int, n_shared: int, device) -> torch.Tensor:
        if not self.anchors:
            return torch.ones(n_images, n_shared, dtype=torch.bool, device=device)
        everything = torch.ones(max(n_images, *self.anchors) + 1, n_shared // len(self.anchors), dtype=torch.bool,
                                device=device)  # (images, tokens of one slot)
        return allowed_anchor_tokens(everything, list(self.anchors), n_images)


def anchor_keys(x: torch.Tensor, layout, anchors: list[int]) -> torch.Tensor:
    """(chunks*n, H, T, d) -> (chunks, H, A*T, d): the anchors' tokens of each guidance chunk, side by side."""
    split = layout.split(x)[:, anchors]  # (c, A, H, T, d)
    c, a, h, t, d = split.shape
    return split.permute(0, 2, 1, 3, 4).reshape(c, h, a * t, d)


def allowed_anchor_tokens(share: torch.Tensor, anchors: list[int], n_images: int) -> torch.Tensor:
    """(n, A*T) bool: image i may see anchor a's token p if it is in a's (dropped-out) mask and a != i."""
    own = torch.tensor(anchors, device=share.device)
    mask = share[anchors].reshape(1, -1).expand(n_images, -1).clone()  # (n, A*T)
    T = share.shape[1]
    for slot, a in enumerate(own.tolist()):
        if a < n_images:
            mask[a, slot * T:(slot + 1) * T] = False
    return mask


def shared_attention(q, k, v, shared_k, shared_v, allowed, layout, scale, chunk: int | None = None) -> torch.Tensor:
    """Attention over [own keys | shared keys]; `allowed` (n, S) masks the shared part (None: all).

    q, k, v: (chunks*n, H, T, d); shared_k/v: (chunks, H, S, d), the same for every image of a chunk.
    `chunk` bounds the queries per SDPA call, which bounds memory where a kernel materialises scores.
    """
    if isinstance(allowed, AnchorSlots):
        return _slot_attention(q, k, v, shared_k, shared_v, allowed, layout, scale, chunk)
    c, n = layout.chunks, layout.n_images
    B, H, T, d = k.shape
    if allowed is None:
        sk = shared_k.unsqueeze(1).expand(c, n, *shared_k.shape[1:]).reshape(B, H, -1, d)
        sv = shared_v.unsqueeze(1).expand(c, n, *shared_v.shape[1:]).reshape(B, H, -1, d)
        return _sdpa(q, torch.cat([k, sk], dim=2), torch.cat([v, sv], dim=2), None, scale, chunk)
    # Compact: each image keeps only the shared tokens it may see (subject masks after dropout are a
    # small part of the anchors), padded to the longest row and masked; the attention is unchanged.
    counts = allowed.sum(dim=1)  # (n,)
    L = int(counts.max())  # one host sync per call
    order = torch.argsort((~allowed).to(torch.uint8), dim=1, stable=True)[:, :L]  # allowed first, in order
    picked = lambda x: x[:, :, order].permute(0, 2, 1, 3, 4).reshape(B, H, L, d)  # (c, H, n, L, d) -> rows
    keys, values = torch.cat([k, picked(shared_k)], dim=2), torch.cat([v, picked(shared_v)], dim=2)
    own = torch.ones(n, T, dtype=torch.bool, device=q.device)
    valid = torch.arange(L, device=q.device) < counts.unsqueeze(1)  # (n, L)
    mask = torch.cat([own, valid], dim=1).unsqueeze(0).expand(c, n, -1).reshape(B, 1, 1, -1)  # (B, 1, 1, T+L)
    return _sdpa(q, keys, values, mask, scale, chunk)


def _sdpa(q, keys, values, mask, scale, chunk: int | None) -> torch.Tensor:
    if not chunk or chunk >= q.shape[2]:
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale)
    parts = [F.scaled_dot_product_attention(q[:, :, i:i + chunk], keys, values, attn_mask=mask, scale=scale)
             for i in range(0, q.shape[2], chunk)]
    return torch.cat(parts, dim=2)


def _slot_attention(q, k, v, shared_k, shared_v, slots: AnchorSlots, layout, scale, chunk) -> torch.Tensor:
    """`shared_attention` for an `AnchorSlots` pattern, one mask-free SDPA per group of rows.

    Rows that are not anchors see [own | all slots]; the anchor of slot j sees [own | the other
    slots]. Key order does not change attention, so this equals the masked form up to rounding.
    Only slices and concatenations: no index tensors, nothing that waits for the device.
    """
    c, n = layout.chunks, layout.n_images
    anchors, S = slots.anchors, shared_k.shape[2]
    width = S // len(anchors) if anchors else S
    skips = {a: j for j, a in enumerate(anchors) if a < n}  # image -> the slot it must not see
    qs, ks, vs = (layout.split(x) for x in (q, k, v))  # (c, n, H, T, d)
    outs, start = [], 0
    while start < n:  # runs of consecutive images that see the same slots
        stop = start + 1
        while stop < n and skips.get(stop) == skips.get(start):
            stop += 1
        m, skip = stop - start, skips.get(start)
        rows = lambda x: x[:, start:stop].reshape(c * m, *x.shape[2:])  # (c*m, H, T, d)
        grow = lambda x: x.unsqueeze(1).expand(c, m, *x.shape[1:]).reshape(c * m, *x.shape[1:])
        lo, hi = (0, 0) if skip is None else (skip * width, (skip + 1) * width)  # the slot it skips
        seen = lambda x: [grow(p) for p in (x[:, :, :lo], x[:, :, hi:]) if p.shape[2]]
        keys = torch.cat([rows(ks)] + seen(shared_k), dim=2)
        values = torch.cat([rows(vs)] + seen(shared_v), dim=2)
        bias = None
        if slots.bias and keys.shape[2] > ks.shape[3]:  # a float mask: 0 on own tokens, the bias on shared ones
            bias = torch.full((1, 1, 1, keys.shape[2]), slots.bias, dtype=q.dtype, device=q.device)
            bias[..., :ks.shape[3]] = 0
        outs.append(_sdpa(rows(qs), keys, values, bias, scale, chunk).view(c, m, *qs.shape[2:]))
        start = stop
    return layout.merge(torch.cat(outs, dim=1))


def attend_shared(call, shared_k, shared_v, allowed, state, query=None) -> torch.Tensor:
    """`shared_attention` for one processor call (its projections, scale and the run's chunking)."""
    q = call.query if query is None else query
    return shared_attention(q, call.key, call.value, shared_k, shared_v, allowed, state.layout, call.attn.scale,
                            chunk=state.attention_chunk)
