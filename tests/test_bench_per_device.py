"""`svdstory bench --per-device K` and `--max-minutes M`: where each process runs, that several CPU processes
give what one process gives (metrics and image bytes, story for story), that a bench killed mid-run or stopped
by its time budget resumes to the same results, and the one-line errors for bad values."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
import yaml

from svdstory.errors import SvdStoryError
from svdstory.eval import bench as bench_module
from svdstory.eval import budget as budget_module
from svdstory.eval.budget import Pace, TimeBudget
from svdstory.eval.launch import Slot, place, visible_gpus, worker_env
from svdstory.eval.shard import WORKER_ENV, process_device, process_state

ROOT = Path(__file__).resolve().parent.parent
STORIES = [{"id": f"s{i}", "category": "animal", "subject": subject, "scenes": scenes} for i, (subject, scenes) in
           enumerate([("a cat", ["on a beach", "in a city"]), ("a red bus", ["in a forest", "at night"]),
                      ("a dog", ["in a room", "on a beach"]), ("a mug", ["in the snow", "in a desert"]),
                      ("a bird", ["in a field", "underwater"]), ("a lamp", ["in a room", "at night"])])]


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"stories": STORIES}))
    return path


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, sd_model) -> dict:
    """The suite's results from one process, uninterrupted: what every other way must give."""
    import svdstory.models
    from svdstory.cli import main

    root = tmp_path_factory.mktemp("one")
    (root / "suite.yaml").write_text(yaml.safe_dump({"stories": STORIES}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(svdstory.models, "load_model", lambda *a, **k: sd_model)
        assert main(bench_argv(root / "suite.yaml", root / "out")) == 0
    return results(root / "out")


def bench_argv(suite: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", "--suite", str(suite), "--method", "vanilla", "--method", "c=consistory?query_mix_until=0.5",
            "--steps", "2", "--size", "32", "--model", "tiny", "--metrics", "clip-t,clip-i", "--clip-model", "tiny",
            "--out", str(out), *extra]


def results(out: Path) -> dict:
    """What a bench's results are: the tables (no timings in them) and every image's bytes."""
    tables = json.loads((out / "results.json").read_text())
    images = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("images/**/*.png"))}
    return {"per_story": tables["per_story"], "per_image": tables["per_image"], "images": images}


def assert_same(a: dict, b: dict) -> None:
    assert a["per_story"] == b["per_story"] and a["per_image"] == b["per_image"]
    assert a["images"].keys() == b["images"].keys() and len(a["images"]) >= 2 * 2 * len(STORIES)
    for name in a["images"]:
        assert a["images"][name] == b["images"][name], name


def records(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): json.loads(p.read_text()) for p in out.glob("records/*/*.json")}


# Where each process runs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("per_device, requested, gpus, expected", [
    (3, None, ["0", "1"], [("cuda:0", "0")] * 3 + [("cuda:1", "1")] * 3),
    (2, "cuda", ["5", "7"], [("cuda:0", "5")] * 2 + [("cuda:1", "7")] * 2),  # CUDA_VISIBLE_DEVICES=5,7
    (2, "cuda:1", ["5", "7"], [("cuda:1", "7")] * 2),
    (1, None, ["GPU-a"], [("cuda:0", "GPU-a")]),
    (2, None, [], [("cpu", "")] * 2),  # no GPU: the CPU, with GPUs hidden
    (2, "cpu", ["0", "1"], [("cpu", "")] * 2),
    (2, "mps", [], [("mps", None)] * 2),
])
def test_processes_fill_each_device_in_turn(per_device, requested, gpus, expected):
    slots = place(per_device, requested, gpus)
    assert [(s.device, s.visible) for s in slots] == expected
    assert [s.rank for s in slots] == list(range(len(expected)))
    assert all(s.own_device == ("cuda:0" if s.device.startswith("cuda") else s.device) for s in slots)


@pytest.mark.parametrize("per_device, requested, gpus, message", [
    (1, "cuda", [], "no CUDA GPU is visible"),
    (1, "cuda:2", ["0", "1"], "cuda:0 to cuda:1"),
    (1, "cuda:x", ["0"], "cuda:0 to cuda:0"),
    (1, "tpu", [], "not cpu, cuda"),
    (0, None, ["0"], "--per-device must be at least 1"),
])
def test_placements_that_cannot_be(per_device, requested, gpus, message):
    with pytest.raises(SvdStoryError, match=message):
        place(per_device, requested, gpus)


def test_visible_gpu_ids_follow_cuda_visible_devices():
    assert visible_gpus(None, 2) == ["0", "1"]
    assert visible_gpus("3,1", 2) == ["3", "1"]
    assert visible_gpus("GPU-aa, GPU-bb,7", 2) == ["GPU-aa", "GPU-bb"]  # past the count CUDA ignores the rest
    assert visible_gpus("", 0) == []


def test_a_worker_sees_its_gpu_alone_and_its_share_of_threads(monkeypatch):
    base = {"PATH": "/bin", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "5,7"}
    env = worker_env(Slot(3, "cuda:1", "7"), 4, 123.5, base, cpus=16)
    assert env["CUDA_VISIBLE_DEVICES"] == "7" and env["OMP_NUM_THREADS"] == "4" and env["PATH"] == "/bin"
    assert "WORLD_SIZE" not in env and "LOCAL_RANK" not in env  # a worker is no launcher's process
    assert worker_env(Slot(0, "cpu", ""), 4, None, {"OMP_NUM_THREADS": "2"}, cpus=16)["OMP_NUM_THREADS"] == "2"
    monkeypatch.setenv(WORKER_ENV, env[WORKER_ENV])
    state = process_state("cuda:1")
    assert (state.process_index, state.num_processes, state.deadline, state.is_main_process) == (3, 4, 123.5, False)
    assert process_device(state, "cuda:1") == "cuda:0"  # the one GPU it sees


# Bad values -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [("--per-device", "0"), ("--per-device", "-2"), ("--per-device", "1.5"),
                                           ("--per-device", "two"), ("--max-minutes", "0"), ("--max-minutes", "-1"),
                                           ("--max-minutes", "nan"), ("--max-minutes", "inf"),
                                           ("--max-minutes", "soon")])
def test_bad_values_are_one_line_errors(tmp_path, suite, capsys, option, value):
    from svdstory.cli import main

    out = tmp_path / "b"
    with pytest.raises(SystemExit) as exit_:
        main(bench_argv(suite, out, option, value))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and option in err and repr(value) in err
    assert not out.exists()


def test_per_device_under_a_launcher_is_refused(tmp_path, suite, capsys, monkeypatch):
    from svdstory.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    out = tmp_path / "b"
    assert main(bench_argv(suite, out, "--per-device", "2", "--device", "cpu")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--per-device starts its own processes" in err
    assert not out.exists()


# The time budget --------------------------------------------------------------------------------------------

def test_pace_and_budget():
    pace = Pace()
    assert pace.estimate(10) == 0.0  # nothing known yet: the first unit always starts
    pace.add(6.0, 2)
    pace.add(2.0, 2)
    assert pace.estimate(3) == pytest.approx(6.0)
    assert TimeBudget().allows(1e12) and TimeBudget.minutes_from_now(None).deadline is None
    budget = TimeBudget.minutes_from_now(1)
    assert budget.allows(50) and not budget.allows(70)
    with pytest.raises(budget_module.OutOfTime):
        TimeBudget(time.time() - 1).check()


class FakeClock:
    """time.time and time.perf_counter of the budget and the bench; each sampler step takes `step` seconds."""

    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch, tiny):
    fake = FakeClock(step=10.0)
    fake_time = SimpleNamespace(time=fake, perf_counter=fake)
    monkeypatch.setattr(budget_module, "time", fake_time)
    monkeypatch.setattr(bench_module, "time", fake_time)
    real = bench_module.generate

    def timed_generate(model, story, method, config, sampling, callback=None, reference=None):
        def step(info):
            fake.now += fake.step
            callback(info)
        return real(model, story, method, config, sampling, step, reference)

    monkeypatch.setattr(bench_module, "generate", timed_generate)
    return fake


def test_the_budget_starts_no_unit_that_would_end_late_and_the_rerun_resumes(tmp_path, suite, clock, capsys,
                                                                             one_process):
    from svdstory.cli import main

    part = tmp_path / "part"
    # 20 s a unit (2 steps): after two units (40 s) the third would end at 60 s, past the 55 s budget
    assert main(bench_argv(suite, part, "--max-minutes", str(55 / 60))) == 75
    assert "with 2 of 12 units done" in capsys.readouterr().err
    assert len(records(part)) == 2 and not (part / "results.json").exists()
    assert main(bench_argv(suite, part)) == 0  # the same command without the budget finishes the rest
    assert_same(one_process, results(part))


def test_a_unit_running_at_the_deadline_is_abandoned(tmp_path, suite, clock, capsys):
    from svdstory.cli import main

    out = tmp_path / "b"
    assert main(bench_argv(suite, out, "--max-minutes", str(15 / 60))) == 75  # its second step ends at 20 s
    assert "with 0 of 12 units done" in capsys.readouterr().err
    assert records(out) == {} and not (out / "images").exists()


def test_leftovers_of_a_killed_process_do_not_count(tmp_path, suite, tiny, one_process):
    """A process killed mid-unit leaves its images without a record, or a temporary file of the record's
    atomic write: neither marks the unit done, neither reaches the tables."""
    from svdstory.cli import main

    part = tmp_path / "part"
    assert main(bench_argv(suite, part)) == 0
    for name in ("c/s1.json", "vanilla/s4.json"):
        path = part / "records" / name
        path.unlink()
        (path.parent / f".{path.name}.k1ll3d").write_text('{"format": 1, "unit": "s')  # cut short
    (part / "results.json").unlink()
    assert main(bench_argv(suite, part)) == 0
    assert_same(one_process, results(part))
    assert len(json.loads((part / "results.json").read_text())["per_story"]) == 12


# Several processes ----------------------------------------------------------------------------------------------

def start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen([sys.executable, "-m", "svdstory", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def wait_for_a_record(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not list(out.glob("records/*/*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "the bench ended before writing a record"
        time.sleep(0.02)


@pytest.mark.slow
def test_three_cpu_processes_equal_one(tmp_path, suite, one_process):
    code, out, err = finish(start(bench_argv(suite, tmp_path / "three", "--per-device", "3")))
    assert code == 0, err
    assert "3 processes, 3 on cpu" in err and "12 finished units" in out
    assert_same(one_process, results(tmp_path / "three"))
    workers = {r["story"]["id"]: r["worker"] for r in records(tmp_path / "three").values()}
    assert workers == {f"s{i}": i % 3 for i in range(len(STORIES))}  # story index modulo process count
    assert json.loads((tmp_path / "three" / "bench.json").read_text())["processes"] == 3
    assert sorted(p.name for p in (tmp_path / "three" / "logs").iterdir()) == ["process-1.log", "process-2.log"]


@pytest.mark.slow
def test_a_killed_process_leaves_no_tables_and_a_rerun_with_another_count_completes(tmp_path, suite, one_process):
    out = tmp_path / "two"
    bench = start(bench_argv(suite, out, "--per-device", "2"))
    wait_for_a_record(out, bench)
    second = next(p for p in psutil.Process(bench.pid).children()
                  if json.loads(p.environ()[WORKER_ENV])["rank"] == 1)
    second.send_signal(signal.SIGKILL)
    code, _, err = finish(bench)
    assert code == 2 and "process 1 of 2 (cpu) was ended by SIGKILL" in err and "rerun the same command" in err
    assert not (out / "results.json").exists() and len(records(out)) < 12
    code, _, err = finish(start(bench_argv(suite, out, "--per-device", "3")))
    assert code == 0, err
    assert_same(one_process, results(out))


@pytest.mark.slow
def test_stopping_the_bench_stops_every_process_and_a_rerun_resumes(tmp_path, suite, tiny, one_process):
    from svdstory.cli import main

    out = tmp_path / "two"
    bench = start(bench_argv(suite, out, "--per-device", "2"))
    wait_for_a_record(out, bench)
    workers = psutil.Process(bench.pid).children()
    assert len(workers) == 2
    bench.send_signal(signal.SIGTERM)
    code, _, err = finish(bench)
    assert code == 130 and err.strip().endswith("rerun the same command to resume")
    psutil.wait_procs(workers, timeout=30)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    assert main(bench_argv(suite, out)) == 0  # one process finishes what two began
    assert_same(one_process, results(out))
