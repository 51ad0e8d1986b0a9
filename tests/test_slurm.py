"""The SLURM executor against a real cluster (``.ci/slurm.sh up`` starts one on localhost).

Skipped, with the reason, where no SLURM controller answers; CI starts one first. The
smoke suite through job arrays must give the inline run's tables byte for byte; a job
requeued or signalled mid-run must resume from the checkpoint taken at the signal and end
with the same numbers as an uninterrupted run; a job that dies shows as failed with
SLURM's reason; a second launch submits nothing twice.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.api import status_text
from bench.plan.grid import load_plan
from bench.run.execution import Execution
from bench.run.scheduler import levels, with_teachers
from bench.run.slurm import Jobs, _minutes, check_resources, signal_lead_s
from bench.errors import UserError
from bench.results.store import Store
from tests.conftest import run_cli


def cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


needs_cluster = pytest.mark.skipif(not cluster_up(), reason="no SLURM cluster answers here "
                                   "(start one with `.ci/slurm.sh up`, as CI does)")
SLURM_FLAGS = ["--executor", "slurm", "--gpus", "0", "--cpus", "1", "--mem-gb", "1", "--time-min", "10"]


def status(results: Path, suite: str) -> str:
    """What ``--status`` prints, computed in this process (polling without a new interpreter)."""
    return status_text(load_plan(suite, "smoke"), Execution(results=str(results)))


def wait_for(results: Path, suite: str, n: int, timeout: float = 400) -> str:
    """Poll the status until ``n`` runs are done (or fail the test with the last status)."""
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = status(results, suite)
        if f"done: {n}" in text and "running" not in text and "queued" not in text:
            return text
        time.sleep(1)
    raise AssertionError(f"not done after {timeout}s:\n{text}")


@pytest.mark.slow
@needs_cluster
def test_smoke_suite_through_slurm_arrays_matches_inline_and_is_not_submitted_twice(dirs, smoke_sweep):
    common = ["--suite", "dfkd_small", "--profile", "smoke", "--experiment", "dfad_table2"]  # 2 levels, 6 jobs
    specs = with_teachers(load_plan("dfkd_small", "smoke", only=["dfad_table2"]).specs)
    n, teachers = len(specs), len(levels(specs)[0])
    # one thread per run, as the inline sweep it is compared with: `auto` would read the load of
    # the moment, and the node does not bind a job to the one CPU it asks for
    common += ["--threads", "1"]
    started = time.time()
    out = run_cli(*common, *SLURM_FLAGS, "--results-dir", str(dirs["results"]))
    assert out.returncode == 0 and f"submitted {n} jobs, by dependency level {teachers} + {n - teachers}" in out.stdout, \
        out.stderr[-2000:]
    again = run_cli(*common, *SLURM_FLAGS, "--results-dir", str(dirs["results"]))
    assert "submitted 0 jobs" in again.stdout  # queued or running: not twice
    now = run_cli(*common, "--results-dir", str(dirs["results"]), "--status").stdout
    assert "queued" in now or "running" in now or f"done: {n}" in now
    wait_for(dirs["results"], "dfkd_small", n)
    print(f"SLURM smoke suite: {time.time() - started:.0f}s from submission to {n} runs done")
    agg = run_cli(*common, "--results-dir", str(dirs["results"]), "--tables-dir", str(dirs["tables"]),
                  "--aggregate-only")
    assert agg.returncode == 0
    table = smoke_sweep / "tables" / "dfad_table2.csv"  # the same table as the session's inline sweep
    assert (dirs["tables"] / table.name).read_bytes() == table.read_bytes()


LONG = {  # one teacher long enough to be interrupted after 5 epochs (≈ 0.25 s per epoch on digits)
    "name": "slurm_long", "papers": [],
    "profiles": {"smoke": {"datasets": ["digits"], "seeds": [0],
                           "pairs": {"digits": {"name": "cnn8", "teacher": "cnn8", "student": "cnn8_half"}},
                           "params": {"teacher": {"epochs": 16, "batch_size": 128, "lr": 0.05}}}},
    "experiments": [{"id": "e", "methods": [{"method": "teacher"}]}],
}


def long_run(dirs, env: dict) -> tuple[Path, str]:
    suite = dirs["tmp"] / "slurm_long.yaml"
    suite.write_text(yaml.safe_dump(LONG))
    out = run_cli("--suite", str(suite), "--profile", "smoke", *SLURM_FLAGS, "--results-dir", str(dirs["results"]),
                  env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    (run_dir,) = (dirs["results"] / "runs").iterdir()
    return suite, run_dir


def start_when_requeued(job: str, timeout: float = 120) -> None:
    """SLURM holds a requeued job for 120 s (its BeginTime); start it now to keep the test short."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
        if "PENDING" in state:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job} was not requeued within {timeout}s")


def curve_rows(run_dir: Path) -> int:
    path = run_dir / "attempts" / "1" / "curve.csv"
    try:
        return len(pd.read_csv(path)) if path.exists() and path.stat().st_size else 0
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return 0


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict:
    """The long run's summary when trained inline, uninterrupted (shared by the interruption cases)."""
    root = tmp_path_factory.mktemp("straight")
    suite = root / "slurm_long.yaml"
    suite.write_text(yaml.safe_dump(LONG))
    out = run_cli("--suite", str(suite), "--profile", "smoke", "--results-dir", str(root / "results"),
                  "--tables-dir", str(root / "tables"))
    assert out.returncode == 0, out.stderr[-2000:]
    (run_dir,) = (root / "results" / "runs").iterdir()
    return Store(root / "results").summary(run_dir.name)


@pytest.mark.slow
@needs_cluster
@pytest.mark.parametrize("how", ["scontrol requeue", "USR2"])
def test_interrupted_job_resumes_from_the_checkpoint_taken_at_the_signal(dirs, how, straight):
    env = {"BENCH_CHECKPOINT_SECONDS": "100000"}  # no periodic checkpoint: only the signal's
    suite, run_dir = long_run(dirs, env)
    job = json.loads((run_dir / "job.json").read_text())["job_id"]
    deadline = time.time() + 200
    while curve_rows(run_dir) < 5 and time.time() < deadline:
        time.sleep(0.2)
    at_signal = curve_rows(run_dir)
    assert at_signal >= 5, "the job did not start in time"
    if how == "USR2":
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
    else:
        subprocess.run(["scontrol", "requeue", job], check=True)
    start_when_requeued(job)
    wait_for(dirs["results"], str(suite), 1, timeout=400)
    store = Store(dirs["results"])
    result = store.summary(run_dir.name)
    logs = "".join(p.read_text() for p in (dirs["results"] / "submitit").rglob("*.err"))
    resumed = [int(line.split("resuming at step ")[1].split()[0]) for line in logs.splitlines()
               if "resuming at step" in line]
    assert resumed and resumed[0] >= at_signal, logs[-3000:]  # saved at the signal, not from step 0
    assert result["attempt"] == 1 and store.attempts(run_dir.name) == [1]
    assert (result["acc_best"], result["acc_last"]) == (straight["acc_best"], straight["acc_last"])
    assert result["wall_time_s"] >= at_signal * 0.05  # both sessions counted


@pytest.mark.slow
@needs_cluster
def test_a_job_killed_by_signal_9_shows_failed_with_slurms_reason(dirs):
    suite, run_dir = long_run(dirs, {})
    deadline = time.time() + 200
    while curve_rows(run_dir) < 3 and time.time() < deadline:
        time.sleep(0.5)
    holder = json.loads((run_dir / "lock").read_text())
    os.kill(int(holder["pid"]), signal.SIGKILL)
    deadline = time.time() + 120
    text = ""
    while time.time() < deadline:
        text = status(dirs["results"], str(suite))
        if "failed" in text:
            break
        time.sleep(1)
    assert "failed: 1" in text and "ended FAILED" in text, text
    dry = run_cli("--suite", str(suite), "--profile", "smoke", "--results-dir", str(dirs["results"]), "--dry-run")
    assert "failed" in dry.stdout and "SLURM job" in dry.stdout


def fake_slurm(outputs: dict):
    def run(cmd):
        return outputs.get(cmd[0])
    return run


def test_scheduler_states_are_read_from_squeue_sacct_and_scontrol(tmp_path, monkeypatch):
    from bench.run.slurm import record_job

    store = Store(tmp_path)
    for run_id, job in (("a" * 16, "7_0"), ("b" * 16, "7_1"), ("c" * 16, "8"), ("d" * 16, "9")):
        store.run_dir(run_id).mkdir(parents=True)
        record_job(store, run_id, job, f"/logs/{job}")
    monkeypatch.setattr("bench.run.slurm._run", fake_slurm({
        "squeue": "7_0|PENDING|Resources\n7_1|RUNNING|None\n",
        "sacct": "8|OUT_OF_MEMORY|0:125\n",
        "scontrol": "JobId=9 JobName=x JobState=TIMEOUT Reason=TimeLimit\n",
    }))
    jobs = Jobs(store)
    assert jobs.state("a" * 16).status == "queued" and "Resources" in jobs.state("a" * 16).reason
    assert jobs.state("b" * 16).status == "running"
    assert jobs.state("c" * 16).status == "failed" and "OUT_OF_MEMORY" in jobs.state("c" * 16).reason
    assert jobs.state("d" * 16).status == "failed" and "TIMEOUT (TimeLimit)" in jobs.state("d" * 16).reason


def test_sbatch_options_are_checked_against_sinfo(monkeypatch):
    monkeypatch.setattr("bench.run.slurm._run", fake_slurm({"sinfo": "debug*|2|19284|(null)|infinite\n"
                                                                  "gpu|16|128000|gpu:a100:4|2-00:00:00\n"}))
    check_resources({"cpus": 2, "mem_gb": 16, "time_min": 60})
    check_resources({"partition": "gpu", "gpus": 4, "time_min": 2880})
    for params, message in (({"gpus": 1}, "at most 0 GPUs"), ({"cpus": 4}, "at most 2 CPUs"),
                            ({"mem_gb": 32}, "GB of memory"), ({"partition": "big"}, "does not exist"),
                            ({"partition": "gpu", "time_min": 3000}, "exceeds partition 'gpu'"),
                            ({"time_min": 1}, "too short")):
        with pytest.raises(UserError, match=message):
            check_resources(params)


def test_signal_lead_time_follows_the_limit():
    assert signal_lead_s(2) == 15 and signal_lead_s(60) == 300 and signal_lead_s(20) == 120
    assert _minutes("1-00:00:00") == 1440 and _minutes("30:00") == 30 and _minutes("infinite") is None
