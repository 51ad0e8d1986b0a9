"""Every registered method, by one battery: its smoke-profile run (tiny data, a few steps)
from the first suite that runs it, with the runs it depends on, must finish with finite
metrics and the files a published run promises. A new method is covered as soon as a suite
runs it; a method no suite runs is a failure that says so."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.data.examples import write_examples
from bench.plan.grid import load_plan
from bench.registry import METHODS, load_plugins, reports
from bench.results.states import DONE
from bench.results.store import Store
from bench.run.execution import Execution
from bench.run.runner import execute
from bench.run.scheduler import levels, with_teachers

load_plugins()
SUITES = ("dfkd_small", "kdgan_compression", "kdgan_tags", "gantsc_tabular", "gantsc_images", "afd_cifar100",
          "dfkd_ablations", "afd_imagenet", "dfad_segmentation", "dfkd_large")
"""Cheapest first: a method is run from the first suite whose smoke profile has it."""
LARGE = {"afd_imagenet", "dfad_segmentation", "dfkd_large"}
METRICS = ("acc_best", "acc", "acc_last", "miou", "p_at_3", "tsc_score", "auc")
RUN_NUMBERS = {"seed", "n_train", "train_size", "test_size", "wall_time_s", "threads", "attempt", "input_files"}
"""Numbers every run's summary carries that are not results (what the runner adds)."""


def result_columns(summary: dict) -> set[str]:
    """The summary's numbers that are the method's results: not the run's bookkeeping, its
    config, or what is recorded of the runs it started from (``teacher_acc``, ``*_run_id``)."""
    return {k for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and not (isinstance(v, float) and math.isnan(v) and k not in METRICS)  # an empty cell: no value
            and k not in RUN_NUMBERS and not k.startswith("cfg.") and not k.endswith(("_run_id", "_attempt", "_acc"))}


@functools.cache
def smoke_specs(suite: str) -> list:
    """The smoke profile's runs and every run they start from."""
    return with_teachers(load_plan(suite, "smoke").specs)


def smoke_run(method: str):
    for suite in SUITES:
        for spec in smoke_specs(suite):
            if spec.method == method:
                return suite, spec
    return None, None


def cases() -> list:
    return [pytest.param(e.name, id=e.name, marks=[pytest.mark.slow] if smoke_run(e.name)[0] in LARGE else [])
            for e in METHODS.entries()]


@pytest.fixture(scope="module")
def battery(tmp_path_factory) -> Path:
    """One results folder for the whole battery: a dependency shared by methods runs once."""
    return tmp_path_factory.mktemp("battery")


@pytest.mark.parametrize("method", cases())
def test_every_method_finishes_its_smoke_run_with_finite_metrics_and_its_files(method, battery):
    suite, spec = smoke_run(method)
    assert spec is not None, f"method {method!r} is in no suite's smoke profile: add it to one"
    specs = with_teachers([spec])
    data_root = battery / "example-data"
    write_examples({s.dataset for s in specs}, data_root)
    execution = Execution(results=battery, data_root=data_root, threads=1)
    for level in levels(specs):
        for s in level:
            assert execute(s, execution, show_progress=False) == DONE, Store(battery).error(s.run_id)
    store = Store(battery)
    summary = store.summary(spec.run_id)
    measured = {k: summary[k] for k in METRICS if isinstance(summary.get(k), float)}
    assert measured, f"{method} ({suite}) reported none of {', '.join(METRICS)}: {sorted(summary)}"
    assert all(math.isfinite(v) for v in measured.values()), measured
    undeclared = sorted(c for c in result_columns(summary) if not reports(method, c))
    assert not undeclared, f"{method} reports {undeclared}, which its registration's metrics= does not declare"
    attempt = store.attempt_dir(spec.run_id, store.attempts(spec.run_id)[-1])
    assert json.loads((attempt / "spec.json").read_text())["run_id"] == spec.run_id
    curve = attempt / "curve.csv"
    if curve.exists() and curve.stat().st_size:
        assert len(pd.read_csv(curve)) >= 1
    for dep in specs[:-1]:  # what other runs start from is kept: a teacher's, a generator's weights
        kept = store.attempt_dir(dep.run_id, store.attempts(dep.run_id)[-1])
        assert any(kept.glob("*.pt")) or any(kept.glob("*.pkl")), f"{dep.method} run {dep.run_id} kept no weights"
