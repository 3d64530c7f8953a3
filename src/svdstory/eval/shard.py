"""Several processes, one bench folder: Accelerate's process state, a process `--per-device` started, or a
single-process stand-in.

Two ways to get several processes. `svdstory bench ... --per-device K` starts K on each device itself
(eval/launch.py); each learns its rank, the process count and its device from SVDSTORY_BENCH_WORKER.
Or launch with `accelerate launch --num_processes N -m svdstory bench ...` (or torchrun). Either way
stories are dealt by index modulo the process count and each process writes only its own unit records;
the tables are built once every process is done, from every record in the folder (by `--per-device`'s
parent after its processes exit; under a launcher by the main process after a barrier).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta

from ..models import resolve_device

_DIST_VARS = ("WORLD_SIZE", "LOCAL_RANK")
WORKER_ENV = "SVDSTORY_BENCH_WORKER"  # JSON {rank, world, device, deadline}, set by --per-device on its processes
# A resumed bench can leave one process with nothing to do while another runs for hours: the final
# barrier must outwait that. A crashed peer still fails the barrier at once (the connection closes).
BARRIER_TIMEOUT = timedelta(days=7)


def under_launcher() -> bool:
    """Whether a distributed launcher (accelerate launch, torchrun) started this process."""
    return any(os.environ.get(v) for v in _DIST_VARS)


def process_state(device: str | None = None):
    """The state of a process `--per-device` started, Accelerate's PartialState under a distributed launcher,
    else a plain one-process state."""
    worker = worker_from_env()
    if worker is not None:
        return worker
    if not under_launcher():
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


@dataclass(frozen=True)
class Worker:
    """A process `--per-device` started: it runs its share and stops; the process that started it waits for
    every one of them and builds the tables, so workers share no process group and never meet."""

    process_index: int
    num_processes: int
    device: str  # as this process names it: cuda:0 (the one GPU it sees), cpu
    deadline: float | None = None  # --max-minutes: time.time() by which the whole call ends
    is_main_process = False  # not a field: no worker writes bench.json or the tables

    def wait_for_everyone(self) -> None:
        pass

    def to_env(self) -> str:
        return json.dumps({"rank": self.process_index, "world": self.num_processes, "device": self.device,
                           "deadline": self.deadline})


def worker_from_env() -> Worker | None:
    text = os.environ.get(WORKER_ENV)
    if not text:
        return None
    info = json.loads(text)
    return Worker(info["rank"], info["world"], info["device"], info.get("deadline"))


def process_device(state, requested: str | None) -> str:
    """A process `--per-device` started uses the device it was given. Under a launcher each process takes
    its own device unless one is named exactly (cuda:1, cpu)."""
    worker = worker_from_env()
    if worker is not None:
        return worker.device
    if state.num_processes > 1 and requested in (None, "cuda"):
        return str(state.device)
    return resolve_device(requested)
