"""`svdstory bench ... --per-device K`: K processes on each device, started by the bench itself.

The devices: every visible GPU (CUDA_VISIBLE_DEVICES respected) when `--device` is absent or `cuda`, the
one GPU `--device cuda:N` names, or the CPU (`--device cpu`, or no GPU visible). Each process runs the
same command again, told its rank, the process count, its device and the call's deadline through
SVDSTORY_BENCH_WORKER (shard.Worker); it sees only its own GPU (CUDA_VISIBLE_DEVICES narrowed to it, so
nothing it loads can touch another card) and its share of the CPU's threads. Stories are dealt as under
`accelerate launch`, by index modulo the process count. The processes share no process group: this one
waits for them all, then builds the tables from every record in the folder, as one process does. The
first process keeps the terminal (its progress bar); the others write to DIR/logs/process-R.log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import SvdStoryError
from .budget import TimeBudget
from .shard import WORKER_ENV, Worker, under_launcher

GRACE_S = 30.0  # past the deadline, processes still running (a model load, say) are stopped
STOP_WAIT_S = 30.0  # after forwarding Ctrl-C or SIGTERM, how long processes get to end before SIGKILL


@dataclass(frozen=True)
class Slot:
    """Where one process runs."""

    rank: int
    device: str  # as this command names it: cuda:1, cpu
    visible: str | None  # the process's CUDA_VISIBLE_DEVICES: its GPU's id, "" on the CPU; None: inherited

    @property
    def own_device(self) -> str:
        """The device as the process itself names it: cuda:0, the one GPU it sees."""
        return "cuda:0" if self.device.startswith("cuda") else self.device


def visible_gpus(cuda_visible_devices: str | None, count: int) -> list[str]:
    """The ids (indices or UUIDs) under which CUDA_VISIBLE_DEVICES names each of the `count` GPUs seen."""
    if cuda_visible_devices is None:
        return [str(i) for i in range(count)]
    return [entry.strip() for entry in cuda_visible_devices.split(",")][:count]


def place(per_device: int, requested: str | None, gpus: list[str]) -> list[Slot]:
    """`per_device` consecutive ranks on each device: every GPU in `gpus` (their CUDA_VISIBLE_DEVICES ids)
    for `requested` None or "cuda", the one "cuda:N" names, or the CPU ("cpu", or None without GPUs)."""
    if per_device < 1:
        raise SvdStoryError(f"--per-device must be at least 1, got {per_device}")
    if requested in (None, "cuda") and gpus:
        devices = [(f"cuda:{i}", gpu) for i, gpu in enumerate(gpus)]
    elif requested in (None, "cpu"):
        devices = [("cpu", "")]
    elif requested == "mps":
        devices = [("mps", None)]
    elif requested.startswith("cuda"):
        index = requested.removeprefix("cuda").removeprefix(":")
        if not gpus:
            raise SvdStoryError(f"--device {requested!r}: no CUDA GPU is visible")
        if not index.isdigit() or int(index) >= len(gpus):
            raise SvdStoryError(f"--device {requested!r}: the GPUs visible are cuda:0 to cuda:{len(gpus) - 1}")
        devices = [(requested, gpus[int(index)])]
    else:
        raise SvdStoryError(f"--device {requested!r} is not cpu, cuda[:N] or mps")
    ranks = [device for device in devices for _ in range(per_device)]
    return [Slot(rank, device, visible) for rank, (device, visible) in enumerate(ranks)]


def describe(slots: list[Slot]) -> str:
    devices = list(dict.fromkeys(s.device for s in slots))
    each = len(slots) // len(devices)
    where = devices[0] if len(devices) == 1 else f"each of {', '.join(devices)}"
    return f"{len(slots)} process{'es' if len(slots) > 1 else ''}, {each} on {where}"


def worker_env(slot: Slot, world: int, deadline: float | None, base: dict, cpus: int) -> dict:
    """The environment of one process: its Worker description, its GPU alone, its share of the CPU threads."""
    env = {k: v for k, v in base.items() if k not in ("WORLD_SIZE", "LOCAL_RANK", "RANK", "LOCAL_WORLD_SIZE")}
    env[WORKER_ENV] = Worker(slot.rank, world, slot.own_device, deadline).to_env()
    if slot.visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot.visible
    env.setdefault("OMP_NUM_THREADS", str(max(1, cpus // world)))
    return env


def launch_bench(cfg, per_device: int, argv: list[str], budget: TimeBudget) -> list[dict]:
    """Start every process, wait for them, and return every record once all units are done (bench.run_bench's
    contract: Unfinished if the budget stopped them first; one line per process that failed)."""
    import torch

    from .bench import claim_folder, finish_bench
    from .folder import BenchFolder

    if under_launcher():
        raise SvdStoryError("--per-device starts its own processes: leave it out under accelerate launch or "
                            "torchrun (each process then takes cuda:<local rank>), or run the command alone")
    gpus = visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), torch.cuda.device_count())
    slots = place(per_device, cfg.device, gpus)
    folder = BenchFolder(Path(cfg.out))
    claim_folder(cfg, folder, slots[0].device, argv, len(slots), write=True)
    logs = folder.root / "logs"
    if len(slots) > 1:
        logs.mkdir(parents=True, exist_ok=True)
        print(f"svdstory bench: {describe(slots)}; the first shows progress, the others write to "
              f"{logs}/process-R.log", file=sys.stderr, flush=True)
    procs = [_start(slot, len(slots), budget, argv, logs) for slot in slots]
    codes = _wait(procs, budget)
    failed = [(slot, code) for slot, code in zip(slots, codes) if code not in (0, None)]
    for slot, code in failed:
        print(f"svdstory: process {slot.rank} of {len(slots)} ({slot.device}) {_ending(code)}"
              f"{_last_line(logs, slot.rank)}", file=sys.stderr)
    if failed:
        raise SvdStoryError(f"{len(failed)} of {len(slots)} processes failed; finished units are kept in "
                            f"{cfg.out}: rerun the same command to resume")
    return finish_bench(cfg, folder)


def _start(slot: Slot, world: int, budget: TimeBudget, argv: list[str], logs: Path):
    env = worker_env(slot, world, budget.deadline, _same_code(dict(os.environ)), len(os.sched_getaffinity(0))
                     if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if slot.rank == 0:
        out = None  # the terminal: the progress bar and messages
    else:
        out = open(logs / f"process-{slot.rank}.log", "a")
        out.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} process {slot.rank} of {world} on {slot.device}\n")
        out.flush()
    try:
        # A session of its own: Ctrl-C reaches this process only, which passes it on once (see _wait).
        return subprocess.Popen([sys.executable, "-m", "svdstory", *argv[1:]], env=env, stdout=out,
                                stderr=subprocess.STDOUT if out else None, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    finally:
        if out is not None:
            out.close()


def _same_code(env: dict) -> dict:
    """The processes import this svdstory, also when it runs from a source folder that is not installed (a
    site-packages folder is left alone: put first, it could hide the standard library's modules)."""
    root = Path(__file__).resolve().parents[2]
    if root.name in ("site-packages", "dist-packages"):
        return env
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join([str(root)] + paths)}


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the process when the bench that started it dies, even by SIGKILL."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait(procs, budget: TimeBudget) -> list[int | None]:
    """Every exit code; None for a process stopped GRACE_S past the budget's deadline (a slow model load,
    say: what it finished is kept). Ctrl-C or SIGTERM here is passed on to every process as Ctrl-C."""
    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    overran = []
    try:
        while any(p.poll() is None for p in procs):
            if budget.left() < -GRACE_S:
                overran = [p for p in procs if p.poll() is None]
                _stop(overran, signal.SIGTERM)
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(procs, signal.SIGINT)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return [None if p in overran else p.returncode for p in procs]


def _stop(procs, signum) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signum)
    deadline = time.monotonic() + STOP_WAIT_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _ending(code: int) -> str:
    if code < 0:
        try:
            return f"was ended by {signal.Signals(-code).name}"
        except ValueError:
            return f"was ended by signal {-code}"
    return f"exited with code {code}"


def _last_line(logs: Path, rank: int) -> str:
    """The process's last line of output (its one-line error, or a traceback's last line), and where the rest is."""
    if rank == 0:
        return " (its output is above)"
    path = logs / f"process-{rank}.log"
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return (f": {lines[-1].strip()}" if lines else "") + f" (log: {path})"
