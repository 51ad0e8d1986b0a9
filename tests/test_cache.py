"""The results cache never hands back a wrong number.

Done attempts are immutable and checksummed; code, data or thread-count changes make a
result stale; the same run id gives the same numbers under every executor; one process
writes a run at a time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.results import fingerprint
from bench.results.validity import RunEnvironment, run_state
from bench.data.base import RawData, load_raw
from bench.results.fingerprint import code_fingerprint
from bench.results.lock import RunLock, holder
from bench.registry import DATASETS
from bench.run.runner import execute
from bench.run.execution import Execution
from bench.plan.grid import load_plan
from bench.run.scheduler import run_specs, with_teachers
from bench.results.store import Store, sha256 as digest
from tests.conftest import ROOT, make_spec, run, run_cli

TEACHER = {"epochs": 1, "batch_size": 128, "lr": 0.05}


def test_rerun_builds_a_new_attempt_and_never_touches_the_published_one(tmp_path):
    teacher = make_spec("teacher", "cnn8", TEACHER)
    student = make_spec("kd", "cnn8_half", {"epochs": 1}, teacher)
    run(teacher, tmp_path)
    run(student, tmp_path)
    store = Store(tmp_path)
    first_model = store.artefact(teacher.run_id, "model.pt")
    before = digest(first_model)
    assert store.summary(student.run_id)["teacher_attempt"] == 1

    assert execute(teacher, Execution(results=tmp_path, data_root=".", threads=1, rerun=True), show_progress=False) == "done"
    assert store.summary(teacher.run_id)["attempt"] == 2
    assert digest(first_model) == before  # attempt 1 is untouched: readers of it were safe
    assert store.artefact(teacher.run_id, "model.pt").parent.name == "2"
    state = run_state(student, store, RunEnvironment("."))
    assert state.status == "stale" and "was rebuilt (attempt 1 -> 2)" in state.reason


def test_a_run_reads_the_published_teacher_while_a_rebuild_is_in_progress(tmp_path):
    teacher = make_spec("teacher", "cnn8", TEACHER)
    run(teacher, tmp_path)
    store = Store(tmp_path)
    published = digest(store.artefact(teacher.run_id, "model.pt"))
    attempt = store.new_attempt(teacher.run_id)  # a rebuild half way: its model.pt is junk
    (store.attempt_dir(teacher.run_id, attempt) / "model.pt").write_bytes(b"half-trained")
    assert store.status(teacher.run_id) == "done"
    assert digest(store.artefact(teacher.run_id, "model.pt")) == published
    student = run(make_spec("kd", "cnn8_half", {"epochs": 1}, teacher), tmp_path)
    assert student["teacher_attempt"] == 1


def test_summary_carries_checksums_and_a_damaged_artefact_is_detected(tmp_path):
    teacher = make_spec("teacher", "cnn8", TEACHER)
    summary = run(teacher, tmp_path)
    artefacts = json.loads(summary["artefacts"])
    assert set(artefacts) == {"model.pt", "curve.csv", "spec.json"}
    store = Store(tmp_path)
    assert artefacts["model.pt"] == digest(store.artefact(teacher.run_id, "model.pt"))
    store.artefact(teacher.run_id, "model.pt").write_bytes(b"garbage")
    assert store.verify(teacher.run_id)[0] == "corrupt"
    assert execute(teacher, Execution(results=tmp_path, data_root=".", threads=1), show_progress=False) == "done"  # quarantined, rebuilt
    assert store.status(teacher.run_id) == "done"
    assert list((store.run_dir(teacher.run_id) / "quarantine").glob("*/why.txt"))


PROBE = '''
"""A method written by the test: its code is edited to check staleness."""
from dataclasses import dataclass
from bench.registry import METHODS


@dataclass(frozen=True)
class ProbeConfig:
    epochs: int = 2


@METHODS.register("cache_probe", config=ProbeConfig, family="test", paper="-", needs_teacher=False)
def cache_probe(ctx, cfg):
    data = ctx.data
    for step in ctx.steps(cfg.epochs):
        ctx.log(step, acc=float((data.y_test == 0).float().mean()) * SCALE)
    return ctx.accuracy_summary()


SCALE = 1.0
'''


@pytest.fixture(scope="module")
def probe_file(tmp_path_factory):
    """The probe method's module, imported once from a folder of its own."""
    import importlib

    folder = tmp_path_factory.mktemp("plugin")
    path = folder / "advkd_cache_probe.py"
    path.write_text(PROBE)
    sys.path.insert(0, str(folder))
    importlib.import_module("advkd_cache_probe")
    yield path
    sys.path.remove(str(folder))


@pytest.fixture
def probe_module(probe_file):
    probe_file.write_text(PROBE)
    fingerprint._module_digest.cache_clear()
    yield probe_file
    probe_file.write_text(PROBE)
    fingerprint._module_digest.cache_clear()


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))
    fingerprint._module_digest.cache_clear()


def test_edited_method_code_makes_its_results_stale_but_a_docstring_edit_does_not(tmp_path, probe_module):
    spec = make_spec("cache_probe", "cnn8_half")
    run(spec, tmp_path / "r")
    store, expect = Store(tmp_path / "r"), RunEnvironment(".")
    assert run_state(spec, store, expect).status == "done"

    edit(probe_module, "its code is edited", "its docstring is edited")
    edit(probe_module, "SCALE = 1.0", "SCALE = 1.0  # a comment")
    assert run_state(spec, store, expect).status == "done"

    before = code_fingerprint(spec)
    edit(probe_module, "SCALE = 1.0", "SCALE = 0.0")  # the loss multiplied by 0, as in the audit
    assert code_fingerprint(spec) != before
    state = run_state(spec, store, expect)
    assert state.status == "stale" and "code changed: advkd_cache_probe" in state.reason

    # a sweep reruns it (new attempt), unless --accept-stale keeps it
    opts = Execution(results=str(tmp_path / "r"), data_root=".", accept_stale=True)
    seen = []
    run_specs([spec], opts, on_finish=lambda s, st: seen.append(st))
    assert seen == [] and store.summary(spec.run_id)["attempt"] == 1
    run_specs([spec], Execution(results=str(tmp_path / "r"), data_root="."),
              on_finish=lambda s, st: seen.append(st))
    assert seen == ["done"] and store.summary(spec.run_id)["attempt"] == 2


def test_the_code_closure_follows_imports_from_the_runner_the_method_and_the_dataset():
    closure = fingerprint.run_code(make_spec("kd", "cnn8_half"))
    assert {"baselines.kd", "bench.context", "bench.train", "bench.losses", "bench.data.base", "bench.data.digits",
            "bench.run.runner", "bench.run.task", "bench.results.store"} <= set(closure)
    assert not {"bench.report.markdown", "bench.run.scheduler", "bench.plan.grid", "bench.api"} & set(closure)


@DATASETS.register("test_npz", num_classes=2, embedded=False, where="<data-root>/tiny.npz",
                   native_size=8, channels=1)
def _tiny_npz(root: Path, download: bool) -> RawData:
    arrays = np.load(root / "tiny.npz")
    x = torch.from_numpy(arrays["x"]).float()
    y = torch.from_numpy(arrays["y"]).long()
    return RawData(x, y, x, y)


def test_changed_data_makes_results_stale(tmp_path, probe_module):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", x=rng.random((20, 1, 8, 8)), y=np.arange(20) % 2)
    spec = make_spec("cache_probe", "cnn8_half", dataset="test_npz")
    run(spec, tmp_path / "r", tmp_path)
    store = Store(tmp_path / "r")
    assert run_state(spec, store, RunEnvironment(str(tmp_path))).status == "done"
    np.savez(tmp_path / "tiny.npz", x=rng.random((20, 1, 8, 8)), y=np.arange(20) % 2)
    load_raw.cache_clear()
    fingerprint.data_fingerprint.cache_clear()
    state = run_state(spec, store, RunEnvironment(str(tmp_path)))
    assert state.status == "stale" and state.reason == "data changed: test_npz"


def test_a_different_thread_count_is_recorded_and_not_a_reason_to_rerun(tmp_path):
    teacher = make_spec("teacher", "cnn8", TEACHER)
    assert execute(teacher, Execution(results=tmp_path, data_root=".", threads=2), show_progress=False) == "done"
    store = Store(tmp_path)
    assert store.summary(teacher.run_id)["threads"] == 2
    for threads in (2, 1, "auto"):
        assert run_state(teacher, store, RunEnvironment(".", threads=threads)).status == "done"


@pytest.mark.slow
def test_same_run_id_same_numbers_inline_and_in_local_workers(dirs, smoke_sweep):
    common = ["--suite", "dfkd_small", "--profile", "smoke", "--experiment", "dfad_table2",  # 5 runs: a
              "--tables-dir", str(dirs["tables"])]  # teacher, KD from it and the two data-free games
    local = run_cli(*common, "--results-dir", str(dirs["tmp"] / "local"), "--executor", "local",
                    "--workers", "2", "--threads", "1")  # the session's sweep's count
    assert local.returncode == 0, local.stderr[-2000:]

    def accuracies(results: Path) -> dict:
        rows = pd.concat([pd.read_csv(p, dtype={"run_id": str}) for p in results.glob("runs/*/summary.csv")])
        return dict(zip(rows["run_id"], rows["acc_best"]))

    inline, workers = accuracies(smoke_sweep / "results"), accuracies(dirs["tmp"] / "local")
    assert len(workers) == 5 and workers == {k: inline[k] for k in workers}  # the session's sweep ran inline


@pytest.mark.slow
def test_two_sweeps_on_one_results_dir_train_each_run_once(dirs):
    args = [sys.executable, str(ROOT / "run_all.py"), "--suite", "dfkd_small", "--profile", "smoke",
            "--results-dir", str(dirs["results"])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen([*args, "--tables-dir", str(dirs["tmp"] / f"t{i}")], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    runs = list((dirs["results"] / "runs").iterdir())
    assert len(runs) == len(with_teachers(load_plan("dfkd_small", "smoke").specs))
    assert all([a.name for a in (r / "attempts").iterdir()] == ["1"] for r in runs)  # trained once
    assert (dirs["tmp"] / "t0" / "dfad_table2.csv").read_bytes() == (dirs["tmp"] / "t1" / "dfad_table2.csv").read_bytes()


def test_lock_dies_with_its_process_and_a_stale_lock_file_is_taken_over(tmp_path):
    path = tmp_path / "lock"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from bench.results.lock import RunLock
        RunLock({str(path)!r}).acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    who = holder(path)
    assert who["pid"] == proc.pid
    assert not RunLock(path).acquire(wait=False)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert holder(path) is None  # the file is still there, naming a dead process: stale
    lock = RunLock(path)
    assert lock.acquire(wait=False)
    lock.release()


@pytest.mark.slow
def test_a_second_process_waits_for_the_holder_then_reuses_its_result(tmp_path):
    teacher = make_spec("teacher", "cnn8", TEACHER)
    store = Store(tmp_path)
    lock = RunLock(store.lock_path(teacher.run_id))
    lock.acquire()
    assert run_state(teacher, store, RunEnvironment(".")).status == "running"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.conftest import make_spec
        from bench.run.execution import Execution
        from bench.run.runner import execute
        spec = make_spec("teacher", "cnn8", {TEACHER!r})
        print(execute(spec, Execution(results={str(tmp_path)!r}, data_root=".", threads=1), show_progress=False), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    waiting = ""
    while "is held by pid" not in waiting and proc.poll() is None:
        waiting = proc.stderr.readline()  # it says whom it waits for, then blocks
    assert proc.poll() is None and str(os.getpid()) in waiting
    from bench.run.runner import _attempt  # finish the run while holding the lock, as a first sweep would

    _attempt(teacher, store, RunEnvironment("."), None, False, False)
    lock.release()
    out, _ = proc.communicate(timeout=120)
    assert out.strip() == "done"
    assert store.attempts(teacher.run_id) == [1]  # the waiter reused the result


def test_under_auto_threads_a_run_records_the_count_it_ran_with(tmp_path, monkeypatch):
    from bench.run import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 3)
    monkeypatch.setattr(threads, "busy_cores", lambda: 1)
    teacher = make_spec("teacher", "cnn8", TEACHER)
    assert execute(teacher, Execution(results=tmp_path, data_root=".", threads="auto"), show_progress=False) == "done"
    assert Store(tmp_path).summary(teacher.run_id)["threads"] == 2


def test_a_dataset_with_sources_is_loaded_again_only_when_a_source_changed(tmp_path, monkeypatch):
    """--status and reruns learn the data is unchanged from its files' stamps, without loading it."""
    source = tmp_path / "rows.npz"
    np.savez(source, x=np.zeros((4, 1, 8, 8)), y=np.arange(4) % 2)
    loads = []

    def loader(root, download):
        loads.append(1)
        blob = np.load(source)
        x, y = torch.tensor(blob["x"]).float(), torch.tensor(blob["y"])
        return RawData(x, y, x, y)

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    DATASETS.register("test_sourced", num_classes=2, sources=lambda root: [source])(loader)
    try:
        def digest() -> str:
            fingerprint.data_fingerprint.cache_clear()  # a new process
            load_raw.cache_clear()
            return fingerprint.data_fingerprint("test_sourced", str(tmp_path))

        first = digest()
        assert digest() == first and len(loads) == 1  # remembered under the file's stamp
        written = source.stat().st_mtime_ns
        np.savez(source, x=np.ones((4, 1, 8, 8)), y=np.arange(4) % 2)  # same size; a later write:
        os.utime(source, ns=(written + 10**9, written + 10**9))          # not within one clock tick
        assert digest() != first and len(loads) == 2  # the file changed: loaded and digested again
    finally:
        DATASETS._entries.pop("test_sourced", None)
        fingerprint.data_fingerprint.cache_clear()
