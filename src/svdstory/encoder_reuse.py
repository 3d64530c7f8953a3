"""Encoder reuse: one run of the UNet's down and mid blocks for two passes of a step that compute them alike."""
from __future__ import annotations

import contextlib

from torch.utils._pytree import tree_map


class EncoderReuse:
    """Records the outputs of the down and mid blocks in a first pass and hands them to a second pass in
    place of running the blocks again (`reuse`) (exact when nothing in those blocks differs between the passes).

    The record is a copy: the first pass goes on to change some of these tensors in place (FreeU scales the
    mid block's output inside the first up block), and the second pass must see them as they were made.
    """

    def __init__(self, unet):
        self.blocks = [*unet.down_blocks] + ([unet.mid_block] if unet.mid_block is not None else [])
        self.outputs: dict[int, object] = {}

    @contextlib.contextmanager
    def record(self):
        keep = lambda i: (lambda module, args, output: self.outputs.__setitem__(i, tree_map(_copy, output)))
        handles = [block.register_forward_hook(keep(i)) for i, block in enumerate(self.blocks)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @contextlib.contextmanager
    def reuse(self):
        if len(self.outputs) != len(self.blocks):  # the recording pass did not run every block
            yield
            return
        for i, block in enumerate(self.blocks):
            block.forward = lambda *args, __out=self.outputs[i], **kwargs: __out
        try:
            yield
        finally:
            for block in self.blocks:
                del block.forward
            self.outputs = {}


def passes_with_reuse(unet, passes, alike: bool):
    """(pass, context) for each UNet pass of a step: with `alike` and two passes, the first records its
    down and mid blocks and the second reuses them."""
    if not alike or len(passes) != 2:
        return [(network_pass, contextlib.nullcontext()) for network_pass in passes]
    reuse = EncoderReuse(unet)
    return [(passes[0], reuse.record()), (passes[1], reuse.reuse())]


def _copy(value):
    return value.clone() if hasattr(value, "clone") else value
