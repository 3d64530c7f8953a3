"""`svdstory bench`: every (story, method, seed) unit of a suite, generated, scored and recorded.

Resumable: a unit is done when its record exists; the record is written last (after the unit's
images), every write is atomic, so an interrupt or a crash loses at most the unit in flight. The tables
are written once every unit of the plan is done; a call stopped by its time budget (`--max-minutes`)
ends with `Unfinished` instead, and the same command run again resumes.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import SvdStoryError
from ..generate import generate
from ..methods.registry import get_method
from ..models import default_model_source, resolve_dtype
from ..output import atomic_write_json, package_versions
from ..settings import SamplingConfig
from .budget import OutOfTime, Pace, TimeBudget
from .fingerprint import bench_fingerprint, fingerprint_of, reconcile
from .folder import BenchFolder, RECORD_FORMAT, Unit, plan_units, read_json
from .metrics import MetricConfig, build_scorers
from .report.tables import summary_text, write_tables
from .shard import process_device, process_state, wait_for_everyone
from .suites import Suite, reference_of, to_story


@dataclass(frozen=True)
class BenchConfig:
    suite: Suite
    methods: tuple  # MethodSpec, validated
    out: Path
    metrics: MetricConfig
    sampling: SamplingConfig = SamplingConfig()  # steps / guidance / size overrides; seeds come from the stories
    seeds: int = 1  # seed indices per story
    limit: int | None = None  # the first N stories of the suite
    model: str | None = None  # hub id, folder, "tiny"; None: the bundled model
    device: str | None = None
    dtype: str | None = None

    def __post_init__(self):
        if self.seeds < 1:
            raise SvdStoryError(f"--seeds must be at least 1, got {self.seeds}")
        if self.limit is not None and self.limit < 1:
            raise SvdStoryError(f"--limit must be at least 1, got {self.limit}")
        if self.out.exists() and not self.out.is_dir():
            raise SvdStoryError(f"--out {str(self.out)!r} exists and is not a folder")

    @property
    def stories(self) -> list[dict]:
        return list(self.suite.stories[:self.limit])


class Unfinished(Exception):
    """The call ended with units left (its time budget ran out); finished units are kept."""

    def __init__(self, done: int, total: int):
        super().__init__(f"{done} of {total} units done")
        self.done, self.total = done, total


def run_bench(cfg: BenchConfig, command=None, budget: TimeBudget = TimeBudget()) -> list[dict] | None:
    """Run this process's share; the main process returns every record in the folder once every unit of
    the plan is done (raises Unfinished if `budget` stopped a process first), others None."""
    state = process_state(cfg.device)
    device = process_device(state, cfg.device)
    folder = BenchFolder(Path(cfg.out))
    model_source = cfg.model or default_model_source()
    claim_folder(cfg, folder, device, command, state.num_processes, write=state.is_main_process)
    units = plan_units(cfg.stories, cfg.methods, cfg.seeds, state.process_index, state.num_processes)
    todo = [u for u in units if not folder.is_done(u)]
    try:
        if todo:
            budget.check()
            _run_units(cfg, folder, todo, len(units), state, model_source, device, budget)
    except OutOfTime:
        pass  # the main process finds the units left below
    wait_for_everyone(state)
    if not state.is_main_process:
        return None
    return finish_bench(cfg, folder)


def finish_bench(cfg: BenchConfig, folder: BenchFolder) -> list[dict]:
    """Every record in the folder, with the tables over them, once every unit of the plan is done."""
    units = plan_units(cfg.stories, cfg.methods, cfg.seeds)
    done = sum(folder.is_done(u) for u in units)
    if done < len(units):
        raise Unfinished(done, len(units))
    records = folder.records()
    write_tables(folder, records)
    return records


def claim_folder(cfg: BenchConfig, folder: BenchFolder, device: str, command, processes: int, write: bool) -> None:
    """Every process checks bench.json (reads are atomic, so all agree); only the main one writes it."""
    model_source = cfg.model or default_model_source()
    dtype = str(resolve_dtype(cfg.dtype, device)).removeprefix("torch.")
    fingerprint = bench_fingerprint(cfg.suite, cfg.methods, model_source, dtype,
                                    _sampling_fingerprint(cfg.sampling), cfg.metrics.describe())
    existing = read_json(folder.config_path)
    if existing is None and folder.config_path.exists():  # unreadable, it cannot say which bench the records are of
        raise SvdStoryError(f"--out {str(cfg.out)!r}: its bench.json is damaged (not a JSON object), so the units "
                            "in it cannot be matched to this bench: choose a new folder")
    merged = reconcile(fingerprint_of(existing), fingerprint, str(cfg.out))
    if write:
        atomic_write_json(folder.config_path, {"fingerprint": merged, "suite_name": cfg.suite.name,
                                               "versions": package_versions(),
                                               "command": list(command or []), "seeds": cfg.seeds,
                                               "limit": cfg.limit, "processes": processes})


def _sampling_fingerprint(sampling: SamplingConfig) -> dict:
    return {k: v for k, v in asdict(sampling).items() if k != "seed"}  # every story names its own seeds


def _run_units(cfg, folder, todo, total, state, model_source, device, budget) -> None:
    """The units left, under one bar over every sampler step they make (on a terminal, first process only).
    A unit starts only if the pace so far says it ends within `budget`; one running past it is abandoned."""
    from ..generate import count_steps
    from ..models import load_model

    model = load_model(model_source, device, cfg.dtype)
    scorers = build_scorers(cfg.metrics, device)
    specs = {u.method.label: u.method for u in todo}
    configs = {label: spec.config(model.backbone) for label, spec in specs.items()}  # each once, on this model
    steps = [count_steps(model, to_story(u.story, u.seed_index), u.method.name, configs[u.method.label], cfg.sampling,
                         reference=reference_of(u.story, get_method(u.method.name))) for u in todo]
    done_before = f", {total - len(todo)} of {total} units done before" if len(todo) < total else ""
    process = f" (process 1 of {state.num_processes})" if state.num_processes > 1 else ""
    bar = tqdm(total=sum(steps), unit="step", desc=f"bench{process}: {len(todo)} units{done_before}",
               dynamic_ncols=True, disable=None if state.process_index == 0 else True)  # None: only on a terminal

    def on_step(info):
        bar.update(1)
        budget.check()

    pace = Pace()
    try:
        for k, (unit, n) in enumerate(zip(todo, steps), start=1):
            if not budget.allows(pace.estimate(n)):
                raise OutOfTime()
            bar.set_postfix_str(f"{k}/{len(todo)} {unit.method.label} {unit.id}", refresh=False)
            start = time.perf_counter()
            run_unit(model, unit, cfg.sampling, scorers, folder, state.process_index, on_step,
                     configs[unit.method.label])
            pace.add(time.perf_counter() - start, n)
    finally:
        bar.close()


def run_unit(model, unit: Unit, sampling: SamplingConfig, scorers, folder: BenchFolder, worker: int = 0,
             callback=None, config=None) -> dict:
    """Generate, save, score and record one unit; `callback(info)` runs after every sampler step; `config`: the
    unit's method config on this model (made here if not given)."""
    start = time.perf_counter()
    story = to_story(unit.story, unit.seed_index)
    try:
        reference = reference_of(unit.story, get_method(unit.method.name))
        config = config if config is not None else unit.method.config(model.backbone)
        result = generate(model, story, unit.method.name, config, sampling, callback, reference)
    except torch.OutOfMemoryError:
        raise SvdStoryError(f"out of GPU memory on story {unit.id!r} ({len(story.scenes)} images in one batch): "
                            "use a suite with fewer scenes, a smaller --size, or --dtype float16") from None
    images, masks = folder.write_images(unit, result)
    rows, metrics = score_unit(scorers, unit.story, result)
    record = {"format": RECORD_FORMAT, "unit": unit.id, "method": unit.method.label, "story_index": unit.index,
              "seed_index": unit.seed_index, "story": unit.story, "prompts": result.prompts, "seeds": result.seeds,
              "images": images, "masks": masks, "per_image": rows, "metrics": metrics,
              "seconds": round(time.perf_counter() - start, 3), "worker": worker}
    folder.write_record(unit, record)
    return record


def score_unit(scorers, story: dict, result) -> tuple[list[dict], dict]:
    """Every scorer's per-image rows merged by image index, and their story metrics merged. Scorers get the
    method's binary `masks` (PIL, per image and subject) and its soft subject `maps` (n, S, h, w), or None."""
    rows = [{"image": i} for i in range(len(result.images))]
    metrics = {}
    for scorer in scorers:
        per_image, story_metrics = scorer.score(story, result.images, result.masks, maps=result.maps)
        for row, extra in zip(rows, per_image):
            row.update(extra)
        metrics.update(story_metrics)
    return rows, metrics


def print_summary(records) -> None:
    if records:
        print(summary_text(records))
