"""Shared fixtures: plugins loaded, a small thread count, helpers to run the CLI."""
from __future__ import annotations

import os
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
torch.set_num_threads(2)
os.environ.setdefault("BENCH_CACHE", tempfile.mkdtemp(prefix="bench-cache-"))  # not the user's ~/.cache


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600, env: dict | None = None):
    """Run run_all.py in a subprocess and return the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


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
