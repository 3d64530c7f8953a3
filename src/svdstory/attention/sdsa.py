"""Subject-driven self-attention: each image's queries see their own tokens plus shared subject tokens."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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
    c, n = layout.chunks, layout.n_images
    B, H, T, d = k.shape
    sk = shared_k.unsqueeze(1).expand(c, n, *shared_k.shape[1:]).reshape(B, H, -1, d)
    sv = shared_v.unsqueeze(1).expand(c, n, *shared_v.shape[1:]).reshape(B, H, -1, d)
    keys, values = torch.cat([k, sk], dim=2), torch.cat([v, sv], dim=2)  # (B, H, T+S, d)
    mask = None
    if allowed is not None:
        own = torch.ones(n, T, dtype=torch.bool, device=q.device)
        mask = torch.cat([own, allowed], dim=1)  # (n, T+S)
        mask = mask.unsqueeze(0).expand(c, n, -1).reshape(B, 1, 1, -1)
    if not chunk or chunk >= q.shape[2]:
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale)
    parts = [F.scaled_dot_product_attention(q[:, :, i:i + chunk], keys, values, attn_mask=mask, scale=scale)
             for i in range(0, q.shape[2], chunk)]
    return torch.cat(parts, dim=2)


def attend_shared(call, shared_k, shared_v, allowed, state, query=None) -> torch.Tensor:
    """`shared_attention` for one processor call (its projections, scale and the run's chunking)."""
    q = call.query if query is None else query
    return shared_attention(q, call.key, call.value, shared_k, shared_v, allowed, state.layout, call.attn.scale,
                            chunk=state.attention_chunk)
