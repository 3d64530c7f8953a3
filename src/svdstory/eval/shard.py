"""Several processes, one bench folder: Accelerate's process state, or a single-process stand-in.

Launch with `accelerate launch --num_processes N -m svdstory bench ...` (or torchrun). Stories are
dealt by index modulo the world size; each process writes only its own unit records, and the main
process builds the tables after a barrier, from every record in the folder.
"""
from __future__ import annotations

import os
from datetime import timedelta

from ..models import resolve_device

_DIST_VARS = ("WORLD_SIZE", "LOCAL_RANK")
# A resumed bench can leave one process with nothing to do while another runs for hours: the final
# barrier must outwait that. A crashed peer still fails the barrier at once (the connection closes).
BARRIER_TIMEOUT = timedelta(days=7)


def process_state(device: str | None = None):
    """Accelerate's PartialState when launched by a distributed launcher, else a plain one-process state."""
    if not any(os.environ.get(v) for v in _DIST_VARS):
        return SingleProcess()
    import torch
    from accelerate import PartialState

    # PartialState only builds a CPU (gloo) group when told to; without it, CPU processes stay apart.
    use_cpu = (os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
               or str(device).startswith("cpu") or not torch.cuda.is_available())
    return PartialState(cpu=use_cpu, timeout=BARRIER_TIMEOUT)


def wait_for_everyone(state) -> None:
    """All processes meet. Accelerate's barrier names a device per process (cuda:<local rank>), which
    does not exist when several processes share one GPU; a gloo group meets on the host instead."""
    import torch.distributed as dist

    if state.num_processes > 1 and dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo":
        dist.barrier()
    else:
        state.wait_for_everyone()


class SingleProcess:
    """The part of accelerate.PartialState the bench uses, without initialising anything."""

    num_processes = 1
    process_index = 0
    is_main_process = True
    device = None

    def wait_for_everyone(self) -> None:
        pass


def process_device(state, requested: str | None) -> str:
    """Under a launcher each process takes its own device unless one is named exactly (cuda:1, cpu)."""
    if state.num_processes > 1 and requested in (None, "cuda"):
        return str(state.device)
    return resolve_device(requested)
