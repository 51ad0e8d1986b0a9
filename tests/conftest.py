"""Shared fixtures: plugins loaded, a small thread count, helpers to run the CLI in this
process or in a fresh one, and one finished smoke sweep per test session."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from bench.registry import load_plugins

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

load_plugins()
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)  # `-n 2`: two workers share the cores
os.environ.setdefault("BENCH_CACHE", tempfile.mkdtemp(prefix="bench-cache-"))  # not the user's ~/.cache


def run_cli_process(*args: str, cwd: Path = ROOT, timeout: int = 600, env: dict | None = None):
    """Run run_all.py in a fresh interpreter: for tests where the process boundary is the
    point (signals, kill -9, locks between processes, plugins in workers, code edited on disk)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, **_) -> subprocess.CompletedProcess:
    """``run_all.main(args)`` in this process (no torch import per call), with ``cwd`` and
    ``env`` applied for the call only; returns what a subprocess would: code, stdout, stderr."""
    import run_all

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run_all.main(list(args))
            except SystemExit as exc:  # argparse's own errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["run_all.py", *args], code, out.getvalue(), err.getvalue())


SMOKE_ARGS = ("--suite", "dfkd_small", "--profile", "smoke")


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory) -> Path:
    """``dfkd_small --profile smoke`` finished once per session (results/ and tables/ under the
    returned folder); tests take a copy with ``finished_smoke``."""
    root = tmp_path_factory.mktemp("smoke_sweep")
    # one thread per run, whatever else the machine runs: a test compares its numbers with
    # runs made elsewhere, and the thread count orders float sums
    out = run_cli(*SMOKE_ARGS, "--threads", "1", "--results-dir", str(root / "results"),
                  "--tables-dir", str(root / "tables"))
    assert out.returncode == 0, out.stderr[-3000:]
    (root / "stdout.txt").write_text(out.stdout)
    (root / "stderr.txt").write_text(out.stderr)
    return root


@pytest.fixture
def finished_smoke(smoke_sweep, tmp_path) -> dict[str, Path]:
    """A private copy of the session's finished smoke sweep: ``results``, ``tables``, ``tmp``,
    and what the sweep printed (``stdout``, ``stderr``)."""
    shutil.copytree(smoke_sweep / "results", tmp_path / "results", symlinks=True)
    shutil.copytree(smoke_sweep / "tables", tmp_path / "tables", symlinks=True)
    return {"results": tmp_path / "results", "tables": tmp_path / "tables", "tmp": tmp_path,
            "stdout": (smoke_sweep / "stdout.txt").read_text(), "stderr": (smoke_sweep / "stderr.txt").read_text()}


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"results": tmp_path / "results", "tables": tmp_path / "tables", "tmp": tmp_path}


def make_spec(method: str, student: str, params: dict | None = None, teacher=None,
              dataset: str = "digits", seed: int = 0):
    """A RunSpec with the method's defaults overridden by ``params`` (validated)."""
    from bench.config import build_config, config_class, config_dict
    from bench.registry import METHODS
    from bench.spec import RunSpec, freeze

    cfg = build_config(config_class(METHODS.get(method), student), params or {}, "test")
    return RunSpec(method, dataset, seed, student, freeze(config_dict(cfg)), teacher)


def run(spec, results: Path, data_root: Path | str = ".") -> dict:
    """Execute a spec in-process and return its summary (asserting it finished)."""
    from bench.run.execution import Execution
    from bench.run.runner import execute
    from bench.results.store import Store

    status = execute(spec, Execution(results=results, data_root=data_root, threads=1), show_progress=False)
    summary = Store(results).summary(spec.run_id)
    assert status == "done", summary.get("error")
    return summary
