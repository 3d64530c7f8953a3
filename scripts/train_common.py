"""Helpers shared by the training scripts (train_minisd.py, train_evaluator.py, train_clip.py): their common options, time budget, compact checkpoints, EMA, logging.

Checkpoints must travel through the device tool (files of at most 16 MiB), so tensors are written
as safetensors shards of at most `MAX_SHARD` bytes, with the training state as JSON metadata.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_SHARD = 15 * 2**20
SHARD_GLOB = "shard-*.safetensors"


def bare_package() -> None:
    """Make `svdstory.world` importable without running `svdstory/__init__.py`.

    The training scripts need only the world; the package root imports the whole library, and a
    half-edited module elsewhere in the tree must not cost a GPU session.
    """
    import types

    if "svdstory" not in sys.modules:
        package = types.ModuleType("svdstory")
        package.__path__ = [str(SRC / "svdstory")]
        sys.modules["svdstory"] = package


@dataclass
class Deadline:
    """Wall-clock budget of one invocation; `fraction` drives per-invocation LR annealing."""

    minutes: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.minutes * 60 - (time.monotonic() - self.start)

    def passed(self, reserve_s: float = 0.0) -> bool:
        return self.left() <= reserve_s

    def fraction(self) -> float:
        return min(1.0, (time.monotonic() - self.start) / (self.minutes * 60))


class Log:
    """Prints (unbuffered) and appends to a file, so a killed run still leaves its log."""

    def __init__(self, path: Path | None, prefix: str = ""):
        self.path, self.prefix, self.t0 = path, prefix, time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, *parts) -> None:
        line = f"[{self.prefix}{time.monotonic() - self.t0:7.1f}s] " + " ".join(str(p) for p in parts)
        print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def common_arguments(p, world: int) -> None:
    """The options every training script takes: where its checkpoint lives, its time and step budget, the
    rendered world, its seed, data workers and log. `world` is the default world version."""
    p.add_argument("--ckpt", type=Path, required=True, help="checkpoint folder (read if present, then written)")
    p.add_argument("--max-minutes", type=float, default=8.5, help="wall-clock budget of this invocation")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--world", type=int, default=world, help="world version rendered (fixed at the first invocation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=-1)
    p.add_argument("--log", type=Path, default=None)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], meta: dict,
                    max_bytes: int = MAX_SHARD) -> list[Path]:
    """Greedy-pack tensors into shards under `max_bytes`; `meta` (JSON) goes into every shard."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(SHARD_GLOB):
        old.unlink()
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t.detach().cpu().contiguous()
        size += nbytes
    header = {"meta": json.dumps(meta)}
    paths = [folder / f"shard-{i:02d}.safetensors" for i in range(len(shards))]
    for path, shard in zip(paths, shards):
        save_file(shard, str(path), metadata=header)
    return paths


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open

    paths = sorted(Path(folder).glob(SHARD_GLOB))
    if not paths:
        raise FileNotFoundError(f"no checkpoint shards in {folder}")
    tensors, meta = {}, {}
    for path in paths:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["meta"])
            tensors.update({k: f.get_tensor(k) for k in f.keys()})
    return tensors, meta


def prefixed(state: dict[str, torch.Tensor], prefix: str, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in state.items()}


def unprefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    cut = len(prefix) + 1
    return {k[cut:]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith(prefix + ".")}


class EMA:
    """Exponential moving average of a module's float parameters, kept in fp32."""

    def __init__(self, module: torch.nn.Module, decay: float, state: dict[str, torch.Tensor] | None = None):
        self.decay = decay
        self.names = [n for n, p in module.named_parameters() if p.requires_grad]
        src = dict(module.named_parameters())
        start = state if state is not None else src
        self.shadow = [start[n].detach().float().clone().to(src[n].device) for n in self.names]

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        # the warm-up keeps early averages from being dominated by the random initialisation
        decay = min(self.decay, (1 + step) / (10 + step))
        params = dict(module.named_parameters())
        torch._foreach_lerp_(self.shadow, [params[n].detach().float() for n in self.names], 1 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow))

    def to(self, device) -> "EMA":
        self.shadow = [s.to(device) for s in self.shadow]
        return self

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        params = dict(module.named_parameters())
        for n, s in zip(self.names, self.shadow):
            params[n].copy_(s.to(params[n].dtype))


def pick_device(name: str | None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def worker_count(requested: int) -> int:
    return requested if requested >= 0 else max(1, (os.cpu_count() or 2) - 1)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


class Parallel:
    """Data parallelism through `accelerate` when launched with several processes (`accelerate
    launch`), one plain process otherwise. Every process renders its own data stream, so only the
    model and optimizer are prepared; `any` keeps the processes stopping at the same step."""

    def __init__(self):
        self.acc = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            self.acc = Accelerator()
        self.device = self.acc.device if self.acc else pick_device(None)
        self.rank = self.acc.process_index if self.acc else 0
        self.world = self.acc.num_processes if self.acc else 1
        self.is_main = self.rank == 0

    def prepare(self, model, opt):
        return self.acc.prepare(model, opt) if self.acc else (model, opt)

    def unwrap(self, model):
        return self.acc.unwrap_model(model) if self.acc else model

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def backward(self, loss) -> None:
        if self.acc:
            self.acc.backward(loss)
        else:
            loss.backward()

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on any of them."""
        if not self.acc:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        return bool(self.acc.reduce(t, reduction="sum").item() > 0)

    def wait(self) -> None:
        if self.acc:
            self.acc.wait_for_everyone()
