"""Reuse is keyed on every module a run executes: each project module that a smoke run
executes is edited (a constant changed) in turn, and the runs that executed it must turn
stale; an edit to a module no run executes leaves every run done.

What a run executes is observed, not read from the fingerprint's own import walk: every
run of ``dfkd_small --profile smoke`` is executed under a profiler that records the file
of each Python function called, so a module reached some other way (a registry lookup,
a lazy import) that the fingerprint missed fails this test.
"""
from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

import pytest

from bench.plan.grid import load_plan
from bench.results import fingerprint
from bench.results.states import DONE, STALE
from bench.results.store import Store
from bench.results.validity import RunEnvironment, run_state
from bench.run.execution import Execution
from bench.run.runner import execute
from bench.run.scheduler import levels, with_teachers
from tests.conftest import ROOT

PACKAGES = ("bench", "methods", "baselines")
NEVER_RUN = ("bench.api", "bench.plan.grid", "bench.run.scheduler", "bench.run.slurm", "bench.report.figures",
             "bench.report.markdown", "bench.results.manifest")
"""Modules that plan, schedule or report: a run never executes them."""


def module_name(path: str) -> str | None:
    """``bench.results.store`` for ``<root>/bench/results/store.py``; None outside the project."""
    try:
        rel = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        return None
    if rel.parts[0] not in PACKAGES or rel.suffix != ".py":
        return None
    parts = rel.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def executed_modules(call) -> set[str]:
    """Project modules whose functions run while ``call()`` runs."""
    files: set[str] = set()

    def profile(frame, event, arg):  # noqa: ARG001
        if event == "call":
            files.add(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return {m for m in map(module_name, files) if m}


def mutated_source(text: str) -> str:
    """``text`` with its first number changed (an assignment appended if it has none)."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            lines = text.splitlines(keepends=True)
            line = lines[node.lineno - 1]
            lines[node.lineno - 1] = (line[:node.col_offset] + repr(node.value + 1)
                                      + line[node.end_col_offset:])
            return "".join(lines)
    return text + "\n_MUTATED = 1\n"


@pytest.fixture(scope="module")
def traced_sweep(tmp_path_factory):
    """The smoke sweep's runs, executed one by one in dependency order, each with the
    project modules it executed."""
    results = tmp_path_factory.mktemp("traced") / "results"
    specs = [s for level in levels(with_teachers(load_plan("dfkd_small", "smoke").specs)) for s in level]
    execution = Execution(results=str(results), data_root=".", threads=1)
    executed = {}
    for spec in specs:
        executed[spec.run_id] = executed_modules(lambda: execute(spec, execution, show_progress=False))
        assert Store(results).status(spec.run_id) == DONE, Store(results).error(spec.run_id)
    return specs, executed, Store(results)


def edit(monkeypatch, module: str) -> None:
    """Make the fingerprint see ``module`` with a constant changed (the file is not touched)."""
    original = fingerprint._module_digest
    path = fingerprint._module_file(module)
    tree = fingerprint._strip_docstrings(ast.parse(mutated_source(path.read_text())))
    mutated = hashlib.sha256(ast.dump(tree).encode()).hexdigest()
    digest, deps = original(module)
    assert mutated != digest, f"{module}: the mutation changed nothing"
    monkeypatch.setattr(fingerprint, "_module_digest", lambda name: (mutated, deps) if name == module
                        else original(name))


@pytest.mark.slow
def test_an_edit_to_any_module_a_run_executes_makes_that_run_stale(traced_sweep, monkeypatch):
    specs, executed, store = traced_sweep
    expect = RunEnvironment(".")
    modules = sorted(set().union(*executed.values()))
    assert {"bench.run.runner", "bench.results.store", "bench.train", "baselines.dafl"} <= set(modules)
    missed = []
    for module in modules:
        with monkeypatch.context() as patch:
            edit(patch, module)
            for spec in specs:
                if module in executed[spec.run_id] and run_state(spec, store, expect).status != STALE:
                    missed.append(f"{module} (executed by {spec.method} {spec.run_id})")
    assert not missed, "edits that leave the runs executing them done:\n" + "\n".join(missed)


@pytest.mark.slow
def test_an_edit_to_a_module_no_run_executes_leaves_every_run_done(traced_sweep, monkeypatch):
    specs, executed, store = traced_sweep
    expect = RunEnvironment(".")
    assert not set(NEVER_RUN) & set().union(*executed.values())
    for module in NEVER_RUN:
        with monkeypatch.context() as patch:
            edit(patch, module)
            assert {run_state(s, store, expect).status for s in specs} == {DONE}, module


@pytest.mark.slow
def test_a_method_module_stales_only_the_runs_of_that_method(traced_sweep, monkeypatch):
    specs, executed, store = traced_sweep
    expect = RunEnvironment(".")
    edit(monkeypatch, "baselines.dafl")
    stale = {s.method for s in specs if run_state(s, store, expect).status == STALE}
    assert stale == {s.method for s in specs if "baselines.dafl" in executed[s.run_id]}
    assert "dafl" in stale and not {"teacher", "dfad", "mad"} & stale, stale
