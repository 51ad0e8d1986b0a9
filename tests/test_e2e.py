"""End to end through the CLI: smoke suite, idempotent re-run, kill -9 and resume."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.plan.grid import load_plan
from bench.run.scheduler import with_teachers
from tests.conftest import ROOT, run_cli


def cli_args(dirs, *extra):
    return ["--suite", "dfkd_small", "--profile", "smoke", "--results-dir", str(dirs["results"]),
            "--tables-dir", str(dirs["tables"]), *extra]


def n_runs(seeds=(0,)) -> int:
    """Distinct runs (teachers included) of the smoke profile for these seeds."""
    return len(with_teachers(load_plan("dfkd_small", "smoke", seeds=list(seeds)).specs))


def summaries(results: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in results.glob("runs/*/summary.csv")}


@pytest.mark.slow
def test_smoke_suite_writes_tables_report_figures_then_rerun_skips(finished_smoke):
    dirs = finished_smoke
    for name in ("dfad_table2.md", "dfad_table2.csv", "dfad_table2.tex", "report.md",
                 "figures/dfad_table2_digits.png"):
        assert (dirs["tables"] / name).exists(), name
    report = (dirs["tables"] / "report.md").read_text()
    assert "DFAD > RANDOM" in report and "Command:" in report and "profile `smoke`" in report
    table = pd.read_csv(dirs["tables"] / "dfad_table2.csv")
    assert set(table["label"]) == {"Teacher", "KD-ORI", "RANDOM", "DAFL", "DFAD"} and (table["n"] == 1).all()
    assert (dirs["tables"] / "mad_table2.md").exists() and (dirs["tables"] / "mad_table10.md").exists()
    mad1 = pd.read_csv(dirs["tables"] / "mad_table1.csv")
    assert set(mad1["label"]) == {"Teacher", "Student", "DAFL", "ZSKT", "DFAD", "MAD", "ZSKT (own code)"} \
        and (mad1["n"] == 1).all()
    assert "within noise" in report or "means only" in report  # verdict words, not True/False
    runs = report[report.index("## Runs"):]  # nets, budgets, best and last accuracy, commit per run
    assert re.search(r"\| MAD \| [^|]*mad_table\d+[^|]* \| mad \| digits \| cnn8 → cnn8_half \| epochs 2, iters/epoch 2, batch 64 \|",
                     runs)  # one row per table cell
    assert "acc_best | acc_last" in runs and re.search(r"Trained with: `[0-9a-f]{12}`( with uncommitted changes)? \(\d+ runs\)", runs)
    before = summaries(dirs["results"])
    assert len(before) == n_runs()

    assert f"{n_runs()} run(s) trained ({n_runs()} done, 0 failed); 0 already done" in dirs["stderr"]
    assert "\r" not in dirs["stdout"] + dirs["stderr"]  # piped: plain lines, no progress-bar redraws

    assert run_cli(*cli_args(dirs)).returncode == 0  # the copy's files have new inodes: may rebuild once
    figure = dirs["tables"] / "figures/dfad_table2_digits.png"
    drawn = figure.stat().st_mtime_ns
    report = (dirs["tables"] / "report.md").read_text()
    again = run_cli(*cli_args(dirs))
    assert again.returncode == 0
    assert summaries(dirs["results"]) == before  # nothing was trained again
    assert "[done]" not in again.stdout + again.stderr
    assert f"nothing to train; {n_runs()} already done" in again.stderr
    assert pd.read_csv(dirs["tables"] / "dfad_table2.csv").equals(table)
    assert (dirs["tables"] / "report.md").read_text() == report  # same numbers: not rewritten, date kept
    assert figure.stat().st_mtime_ns == drawn  # nothing they are made of changed: not redrawn
    figure.unlink()
    assert run_cli(*cli_args(dirs)).returncode == 0 and figure.exists()  # an output gone: rebuilt

    status = run_cli(*cli_args(dirs, "--status"))
    assert f"done: {n_runs()}" in status.stdout
    dry = run_cli(*cli_args(dirs, "--dry-run"))
    assert "to run now: 0" in dry.stdout


@pytest.mark.slow
def test_default_outputs_go_beside_the_results_not_into_the_committed_tables(tmp_path):
    """A user's first run (no --tables-dir) writes under <results-dir>/tables/, git-ignored:
    the evidence committed in tables/ is never overwritten."""
    out = run_cli("--suite", "dfkd_small", "--profile", "smoke", "--experiment", "dfad_table2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "results" / "tables" / "dfkd_small_smoke" / "report.md").exists()
    assert not (tmp_path / "tables").exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/tables/dfkd_small/report.md"], cwd=ROOT)
    assert ignored.returncode == 0  # in a checkout, the default folder is ignored by git


@pytest.mark.slow
def test_kill_9_then_restart_finishes_only_missing_runs(dirs):
    args = cli_args(dirs, "--seeds", "0", "1", "2")
    env = {**os.environ, "BENCH_CHECKPOINT_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_all.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(summaries(dirs["results"])) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {k: v for k, v in summaries(dirs["results"]).items()}
    assert 0 < len(finished) < n_runs((0, 1, 2)), "the kill should land mid-sweep"

    out = run_cli(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    after = summaries(dirs["results"])
    plan = load_plan("dfkd_small", "smoke", seeds=[0, 1, 2])
    assert set(after) == {s.run_id for s in with_teachers(plan.specs)}  # 3 teachers + their students
    assert all(after[k] == v for k, v in finished.items())  # finished runs were not redone
    for run_dir in (dirs["results"] / "runs").iterdir():
        summary = pd.read_csv(run_dir / "summary.csv")
        assert len(summary) == 1 and summary["status"].iloc[0] == "done"
        attempt = run_dir / "attempts" / str(summary["attempt"].iloc[0])
        curve = pd.read_csv(attempt / "curve.csv")
        assert curve["step"].is_unique and curve["step"].is_monotonic_increasing
        assert not list(run_dir.rglob("*.tmp")) and not (attempt / "checkpoint.pt").exists()
        assert list((run_dir / "attempts").iterdir()) == [attempt]  # the killed run was resumed
    table = pd.read_csv(dirs["tables"] / "dfad_table2.csv")
    assert (table["n"] == 3).all()


def test_paper_profile_dry_run_lists_the_grid(dirs):
    out = run_cli(*cli_args(dirs)[:2], "--profile", "paper", "--dry-run", "--results-dir",
                  str(dirs["results"]))
    assert out.returncode == 0, out.stderr
    assert "262 distinct runs: 7 teachers and pretrained players, 255 others" in out.stdout
    assert "KD-REL" in out.stdout and "mnist" in out.stdout
    assert not (dirs["results"] / "runs").exists()


def test_list_shows_suites_methods_datasets():
    out = run_cli("--list")
    assert out.returncode == 0
    for word in ("dfkd_small", "dfad", "family: data_free", "digits", "scikit-learn (embedded)", "MNIST/raw"):
        assert word in out.stdout
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()
            if line.startswith("  ") and len(line.split()) > 2 and line.split()[1] in ("ready", "needs")}
    assert rows["digits"] == "ready" and rows["mnist"] == "needs"  # MNIST needs --data-root
    assert "fashion_mnist" in rows and "/usr/share/datasets/fashion-mnist" in out.stdout  # Debian's package, not embedded


@pytest.mark.slow
def test_sigterm_checkpoints_exits_cleanly_and_resumes(dirs):
    args = cli_args(dirs, "--seeds", "0", "1", "2")  # work left when the signal lands
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_all.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while len(summaries(dirs["results"])) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the signal landed after the sweep's last step (a machine far faster than the runs' budgets)")
    assert proc.returncode == 130 and "run the same command again to resume" in err
    assert "Traceback" not in err
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(summaries(dirs["results"])) == n_runs((0, 1, 2))


@pytest.mark.slow
def test_missing_dataset_stops_up_front_with_exit_2_and_keeps_finished_runs(finished_smoke):
    dirs = finished_smoke
    before = summaries(dirs["results"])
    out = run_cli("--suite", "dfkd_small", "--dataset", "mnist", "--data-root", str(dirs["tmp"] / "nodata"),
                  "--results-dir", str(dirs["results"]), "--tables-dir", str(dirs["tables"]))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "dataset 'mnist' not found" in out.stderr and "nodata" in out.stderr
    assert summaries(dirs["results"]) == before  # nothing ran, nothing finished was touched
