"""Failure isolation, the local executor's bounded pool, and SLURM submission."""
from __future__ import annotations

import pytest

from dataclasses import dataclass

from bench.context import RunContext
from bench.registry import METHODS
from bench.run.execution import Execution
from bench.run.scheduler import run_specs, submit_slurm
from bench.run.slurm import Jobs
from bench.results.store import Store
from tests.conftest import make_spec, run_cli


@dataclass(frozen=True)
class DivergeConfig:
    """Test-only method config."""

    at: int = 2


@METHODS.register("test_diverge", config=DivergeConfig, family="test", paper="-", needs_teacher=False)
def diverge(ctx: RunContext, cfg: DivergeConfig) -> dict[str, float]:
    for step in ctx.steps(5):
        ctx.log(step, loss=float("nan") if step == cfg.at else 1.0, acc=0.1)
    return ctx.accuracy_summary()


def test_nan_fails_that_run_and_the_sweep_goes_on(tmp_path):
    bad = make_spec("test_diverge", "cnn8_half")
    teacher = make_spec("teacher", "cnn8", {"epochs": 1})
    student = make_spec("kd", "cnn8_half", {"epochs": 1}, teacher)
    seen = []
    run_specs([bad, student], Execution(results=str(tmp_path), data_root="."),
              on_finish=lambda s, st: seen.append((s.method, st)))
    store = Store(tmp_path)
    assert store.status(bad.run_id) == "failed"
    assert "Divergence: loss became nan at step 2" in store.error(bad.run_id)
    assert store.status(teacher.run_id) == "done" and store.status(student.run_id) == "done"
    assert seen[0] == ("teacher", "done")  # teachers first

    # failed runs are kept unless asked: retry-failed runs them again
    run_specs([bad], Execution(results=str(tmp_path), data_root="."), on_finish=lambda s, st: seen.append(st))
    assert seen[-1] != "failed" or len(seen) == 3
    count = len(seen)
    run_specs([bad], Execution(results=str(tmp_path), data_root=".", retry_failed=True),
              on_finish=lambda s, st: seen.append(st))
    assert len(seen) == count + 1 and seen[-1] == "failed"


def test_student_of_a_failed_teacher_fails_with_the_reason(tmp_path):
    teacher = make_spec("teacher", "cnn8", {"epochs": 1, "lr": 1e30})  # diverges
    student = make_spec("kd", "cnn8_half", {"epochs": 1}, teacher)
    run_specs([student], Execution(results=str(tmp_path), data_root="."))
    store = Store(tmp_path)
    assert store.status(teacher.run_id) == "failed"
    assert store.status(student.run_id) == "failed"
    assert f"teacher run {teacher.run_id} is failed" in store.error(student.run_id)


class FakeJob:
    def __init__(self, job_id):
        self.job_id = job_id


class FakeExecutor:
    """Records what would be sent to SLURM."""

    def __init__(self):
        self.params, self.arrays, self.next_id = {}, [], 100

    def update_parameters(self, **kw):
        self.params.update(kw)

    def map_array(self, fn, *columns):
        self.arrays.append((dict(self.params), list(columns[0])))
        self.next_id += 1
        return [FakeJob(f"{self.next_id}_{i}") for i in range(len(columns[0]))]


def test_slurm_arrays_of_a_level_wait_for_every_level_below(tmp_path, monkeypatch):
    """GAN-TSC's inferior AC-GAN continues the well-trained one, and a score run samples the
    inferior: three levels, each array submitted after (afterany) all arrays below it."""
    from bench.plan.grid import load_plan
    from bench.run.scheduler import levels, with_teachers

    monkeypatch.setattr("bench.run.slurm._run", lambda cmd: None)
    plan = load_plan("gantsc_images", "smoke", only=["gantsc_table2"])
    groups = levels(with_teachers(plan.specs))
    assert [sorted({s.method for s in g}) for g in groups] == [["acgan", "teacher"], ["acgan", "tsc_score"],
                                                               ["tsc_score"]]
    fake = FakeExecutor()
    submit_slurm(groups, Execution(executor="slurm", results=str(tmp_path), slurm={"time_min": 60}), executor=fake)
    deps = [params.get("slurm_additional_parameters", {}).get("dependency") for params, _ in fake.arrays]
    assert deps == [None, None, "afterany:101:102", "afterany:101:102", "afterany:101:102:103:104"]


def test_slurm_submits_teacher_array_then_dependent_student_array(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.run.slurm._run", lambda cmd: None)  # no sinfo: nothing to check against
    teacher = make_spec("teacher", "cnn8", {"epochs": 1})
    students = [make_spec("kd", "cnn8_half", {"epochs": e}, teacher) for e in (1, 2)]
    fake = FakeExecutor()
    opts = Execution(executor="slurm", results=str(tmp_path),
                   slurm={"partition": "gpu", "gpus": 1, "time_min": 60, "array_parallelism": 8})
    jobs = submit_slurm([[teacher], students], opts, executor=fake)
    assert len(jobs) == 3
    first, second = (params for params, _ in fake.arrays)
    assert first["slurm_partition"] == "gpu" and first["gpus_per_node"] == 1
    assert first["slurm_array_parallelism"] == 8 and first["timeout_min"] == 60
    assert first["slurm_job_name"] == "advkd.teacher" and second["slurm_job_name"] == "advkd.kd"
    assert [len(a[1]) for a in fake.arrays] == [1, 2]
    assert "slurm_additional_parameters" not in first
    assert second["slurm_additional_parameters"] == {"dependency": "afterany:101"}
    assert first["slurm_signal_delay_s"] == 300  # 60 min: a 5 min lead
    recorded = Jobs(Store(tmp_path)).recorded(students[1].run_id)
    assert recorded["job_id"] == "102_1" and recorded["folder"].endswith("submitit/102_1")


def test_debug_executor_runs_in_process(tmp_path):
    teacher = make_spec("teacher", "cnn8", {"epochs": 1})
    seen = []
    run_specs([teacher], Execution(executor="debug", results=str(tmp_path), data_root="."),
              on_finish=lambda s, st: seen.append(st))
    assert seen == ["done"] and Store(tmp_path).status(teacher.run_id) == "done"


@pytest.mark.slow
def test_sigterm_to_the_local_launcher_checkpoints_its_workers_and_leaves_none_behind(dirs):
    import os
    import signal
    import subprocess
    import sys
    import time

    from bench.results.lock import holder
    from tests.conftest import ROOT

    args = [sys.executable, str(ROOT / "run_all.py"), "--suite", "dfkd_small", "--profile", "smoke",
            "--seeds", "0", "--executor", "local", "--workers", "2",
            "--results-dir", str(dirs["results"]), "--tables-dir", str(dirs["tables"])]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    runs = dirs["results"] / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(runs.glob("*/summary.csv"))) < 4 and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=200)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    time.sleep(1)
    assert all(holder(lock) is None for lock in runs.glob("*/lock"))  # no worker still holds a run
    frozen = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    time.sleep(2)
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()} == frozen  # nobody writes
    out = run_cli(*[a for a in args[2:] if a not in ("--executor", "local", "--workers", "2")])
    assert out.returncode == 0, out.stderr[-2000:]  # resumed inline: a run id's numbers do not
    from tests.test_e2e import n_runs  # depend on the executor

    assert len(list(runs.glob("*/summary.csv"))) == n_runs((0,))


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_a_stop_while_another_process_holds_the_next_run_ends_the_wait_at_once(tmp_path, executor, capsys):
    """A run blocked in its lock would not hear the stop: the scheduler waits for it instead."""
    import threading
    import time

    from bench import context
    from bench.errors import Preempted
    from bench.results.lock import RunLock

    teacher = make_spec("teacher", "cnn8", {"epochs": 1})
    store = Store(tmp_path)
    other = RunLock(store.lock_path(teacher.run_id))  # another sweep working on the same run
    assert other.acquire()
    stop = threading.Timer(0.5, context.STOP.set)
    let_go = threading.Timer(3.0, other.release)  # a waiter that missed the stop would train after it
    started = time.monotonic()
    stop.start()
    let_go.start()
    try:
        with pytest.raises(Preempted, match=f"waiting for run {teacher.run_id}|workers checkpointed"):
            run_specs([teacher], Execution(executor=executor, results=str(tmp_path), data_root="."))
    finally:
        stop.cancel()
        let_go.cancel()
        other.release()
        context.STOP.clear()
    assert time.monotonic() - started < 5
    assert f"run {teacher.run_id} is held by pid" in capsys.readouterr().err
    assert store.attempts(teacher.run_id) == [] and not list(tmp_path.glob("submitit/*"))  # never handed on


def test_a_run_another_process_held_runs_here_once_it_is_let_go(tmp_path):
    import threading

    from bench.results.lock import RunLock

    teacher = make_spec("teacher", "cnn8", {"epochs": 1})
    other = RunLock(Store(tmp_path).lock_path(teacher.run_id))
    assert other.acquire()
    threading.Timer(0.5, other.release).start()
    seen = []
    run_specs([teacher], Execution(executor="debug", results=str(tmp_path), data_root="."),
              on_finish=lambda s, st: seen.append(st))
    assert seen == ["done"] and Store(tmp_path).attempts(teacher.run_id) == [1]


def test_a_worker_without_a_status_fails_its_run_with_one_line(tmp_path):
    """submitit's messages run over several lines: a worker that raised gives its last line and
    its log, one that left no result (killed) says so and names its output."""
    from types import SimpleNamespace

    from bench.run.scheduler import worker_failure

    paths = SimpleNamespace(result_pickle=tmp_path / "0_result.pkl", stdout=tmp_path / "0_log.out",
                            stderr=tmp_path / "0_log.err")
    job = SimpleNamespace(paths=paths)
    remote = RuntimeError("Job (task=0) failed during processing with trace:\n----\nTraceback ...\n"
                          "OSError: [Errno 28] No space left on device\n")
    assert worker_failure(job, remote) == (f"the worker process ended without a result (killed, e.g. out of "
                                           f"memory, or crashed); its output: {paths.stdout}")
    paths.result_pickle.write_bytes(b"pickled exception")
    assert worker_failure(job, remote) == ("the worker failed: OSError: [Errno 28] No space left on device; "
                                           f"its log: {paths.stderr}")
