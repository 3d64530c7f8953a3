"""The attention kernels behind extended attention: SDPA over [own | shared] keys per group of images,
chunked over queries, and the packed variable-length call."""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

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
