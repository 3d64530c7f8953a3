"""Moving small tensors between host and GPU without making the host wait for the GPU's queue.

The host stays ahead of the GPU only while nothing reads a GPU value back: these helpers queue copies
behind the work that makes their data and wait, when they must, for that work alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class HostCopy:
    """A tensor on its way to the host: the copy is queued on the GPU's stream behind the work that makes
    it, and the host waits only for that work, when it reads the copy, not for whatever was queued later."""

    host: torch.Tensor  # pinned host memory, valid once `done` has passed
    done: object = None  # a CUDA event recorded after the copy (None: the tensor lived on the host)

    def get(self) -> torch.Tensor:
        if self.done is not None:
            self.done.synchronize()
        return self.host


def to_host_later(x: torch.Tensor) -> HostCopy:
    """Start copying `x` to the host without waiting; `.get()` returns it."""
    if x.device.type != "cuda":
        return HostCopy(x.cpu())
    host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
    host.copy_(x, non_blocking=True)
    done = torch.cuda.Event()
    done.record(torch.cuda.current_stream(x.device))
    return HostCopy(host, done)


def to_device(x: torch.Tensor, device) -> torch.Tensor:
    """A host tensor moved without making the host wait for the GPU's queue: a non-blocking copy from
    pageable host memory to a GPU stages the data before it returns, so the host tensor may change right
    after (not so for pinned memory, which the GPU reads later: pass pageable tensors only)."""
    return x.to(device, non_blocking=x.device.type == "cpu" and torch.device(device).type == "cuda")


def pick_images(split: torch.Tensor, images: list[int]) -> torch.Tensor:
    """split[:, images] for (chunks, n, ...) tensors, without the wait for the GPU that indexing with a
    Python list costs (the list is copied to the GPU in a blocking copy): a run of consecutive images
    (anchors always are) is a slice, other lists an index tensor sent without waiting."""
    images = list(images)
    if images and images == list(range(images[0], images[0] + len(images))):
        return split[:, images[0]:images[0] + len(images)]
    return split.index_select(1, to_device(torch.tensor(images, dtype=torch.long), split.device))
