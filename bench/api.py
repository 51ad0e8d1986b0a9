"""What run_all.py calls: list, dry-run, run, status and aggregate a suite."""
from __future__ import annotations

import shlex
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from bench.data.base import default_data_root
from bench.data.examples import write_examples
from bench.plan.grid import Plan, load_plan, suite_names, suite_path, read_yaml
from bench.plan.schema import file_name
from bench.registry import DATASETS, METHODS, load_plugins
from bench.results.states import QUEUED, RUNNING, STALE, STATES
from bench.context import checkpoint_seconds_from_env
from bench.report.terminal import outcome_line, progress_text, state_lines, sweep_summary, text_table
from bench.run.checks import check_data, data_names
from bench.run.estimate import estimate, threads_text
from bench.run.execution import Execution
from bench.run.scheduler import levels, phases, run_specs, select, slurm_parameters, states, with_teachers
from bench.run.slurm import arrays_by_resources, with_cli
from bench.spec import RunSpec
from bench.results.store import Store, atomic_write_text, clean_tmp
from bench.results.states import CORRUPT, DONE, FAILED, PARTIAL

load_plugins()

EXAMPLE_DATA = "example-data"
"""Where a profile's generated example folders go, inside the results folder."""


def list_text() -> str:
    lines = ["Suites:"]
    for name in suite_names():
        doc = read_yaml(suite_path(name))
        lines.append(f"  {name:<18} papers: {', '.join(doc.get('papers', []))}; "
                     f"profiles: {', '.join(doc.get('profiles', {}))}")
        for profile, body in doc.get("profiles", {}).items():  # what each profile runs and costs
            text = " ".join(str((body or {}).get("description", "")).split())
            lines.append(f"    {profile:<7} {text[:110] + ('...' if len(text) > 110 else '')}")
    lines.append("Methods:")
    for e in METHODS.entries():
        lines.append(f"  {e.name:<18} family: {e.meta.get('family')}; paper: {e.meta.get('paper')}")
    lines.append("Datasets (ready: found on this machine without --data-root):")
    for e in DATASETS.entries():
        kind = "ready" if e.meta.get("embedded") else "needs data"
        lines.append(f"  {e.name:<18} {kind:<11} looked for in: {e.meta.get('where')}")
    lines.append(f"  {'csv:PATH[#LABEL]':<18} {'your file':<11} a header row, numeric features, a label column "
                 "('label', else the last; #LABEL names it): tabular suites, e.g. gantsc_tabular")
    return "\n".join(lines)


def plan_for(suite: str, profile: str, datasets: list[str] | None = None,
             seeds: list[int] | None = None, n_train: list[int] | None = None,
             overrides: list[str] | None = None, only: list[str] | None = None) -> Plan:
    return load_plan(suite, profile, datasets, seeds, n_train, overrides, only)


def dry_run_text(plan: Plan, opts: Execution, run_probes: bool = False) -> str:
    store = Store(opts.results)
    specs = with_teachers(plan.specs)
    teachers, students = phases(specs)
    known = states(specs, opts, jobs_for(opts))
    counts = Counter(st.status for st in known.values())
    todo = select(specs, opts, known, busy_ok=opts.executor != "slurm")
    cells: dict[tuple, list[int]] = {}  # (experiment, label, dataset, pair) -> [runs, done], in grid order
    for j in plan.runs:
        cell = cells.setdefault((j.experiment, j.label, j.spec.dataset, j.pair), [0, 0])
        cell[0] += 1
        cell[1] += known[j.spec.run_id].status == DONE
    table = text_table([dict(zip(("experiment", "label", "dataset", "pair", "runs", "done"), (*key, *n)))
                        for key, n in cells.items()])
    lines = [f"suite {plan.suite} ({plan.path}), profile {plan.profile}",
             f"{len(specs)} distinct runs: {len(teachers)} teachers and pretrained players, "
             f"{len(students)} others; "
             + ", ".join(f"{k}: {counts[k]}" for k in STATES if counts.get(k)),
             f"to run now: {len(todo)} (executor {opts.executor}, {threads_text(specs, opts.threads)})", "",
             table, "", "teachers and pretrained players:"]
    for t in teachers:
        size = f" n={t.n_train}" if t.n_train else ""
        lines.append(f"  {t.run_id}  {t.method} {t.dataset}{size} {t.student} seed {t.seed}  "
                     f"[{known[t.run_id].status}]")
    lines += state_lines(specs, known, (STALE, CORRUPT, RUNNING, QUEUED, FAILED, PARTIAL))
    if opts.executor == "slurm":
        lines += slurm_lines(specs, todo, with_cli(plan.slurm, opts.slurm))
    lines += ["", "estimated cost: " + estimate(store, specs, todo, opts, run_probes)]
    return "\n".join(lines)


def slurm_lines(specs: list[RunSpec], todo: list[RunSpec], block: dict) -> list[str]:
    """The job arrays ``--executor slurm`` would submit now: one per (dependency level,
    resource group, method), with what each job asks for."""
    pending = {s.run_id for s in todo}
    arrays = arrays_by_resources([[s for s in g if s.run_id in pending] for g in levels(specs)], block)
    rows = []
    for level, group, request, method, group_specs in arrays:
        sbatch = slurm_parameters(request)
        rows.append({"level": level, "group": group, "method": method, "jobs": len(group_specs),
                     "gpus": sbatch["gpus_per_node"], "cpus": sbatch["cpus_per_task"], "mem_gb": sbatch["mem_gb"],
                     "time_min": sbatch["timeout_min"], "partition": sbatch["slurm_partition"] or "(default)",
                     "datasets": ",".join(dict.fromkeys(s.dataset for s in group_specs))})
    if not rows:
        return ["", "SLURM arrays: none (nothing to run)"]
    return ["", "SLURM arrays to submit (one per dependency level, resource group and method; "
            "a level waits for every array below it):", text_table(rows)]


def jobs_for(opts: Execution):
    """SLURM job records of the results dir, when a scheduler can be asked about them."""
    from bench.run.slurm import Jobs

    return Jobs(Store(opts.results))


def status_text(plan: Plan, opts: Execution) -> str:
    specs = with_teachers(plan.specs)
    known = states(specs, opts, jobs_for(opts))
    counts = Counter(st.status for st in known.values())
    lines = [f"suite {plan.suite}, profile {plan.profile}: "
             + ", ".join(f"{k}: {counts[k]}" for k in STATES if counts.get(k))]
    store = Store(opts.results)

    def progress(spec: RunSpec, status: str) -> str:
        return progress_text(store, spec.run_id) if status in (RUNNING, PARTIAL) else ""

    lines += state_lines(specs, known, (FAILED, STALE, CORRUPT, RUNNING, QUEUED, PARTIAL), progress)[1:]
    return "\n".join(lines)


def run_suite(plan: Plan, opts: Execution) -> None:
    """Run what the plan still needs; one line per finished run, then one summary line."""
    store = Store(opts.results)
    labels = {j.spec.run_id: j.label for j in plan.runs}
    ended: dict[str, int] = {}
    started = time.monotonic()

    def report(spec: RunSpec, status: str) -> None:
        ended[status] = ended.get(status, 0) + 1
        summary = store.summary(spec.run_id) or {}
        name = next((k for k in ("acc_best", "acc") if isinstance(summary.get(k), float)), "acc_best")
        metric = summary.get(name)
        metric_text = f"{name}={metric:.4f}" if isinstance(metric, float) and metric == metric else ""
        error = f" error: {summary.get('error')}" if status == FAILED else ""
        tqdm.write(f"[{status}] {labels.get(spec.run_id, spec.method):<8} {spec.dataset:<10} "
                   f"seed={spec.seed} {metric_text} {summary.get('wall_time_s', 0)}s "
                   f"({spec.run_id}){error}")

    opts = replace(opts, slurm=with_cli(plan.slurm, opts.slurm))
    checkpoint_seconds_from_env()
    if opts.executor != "slurm":  # on a cluster the data lives where the jobs run
        every = with_teachers(plan.specs)
        if plan.example_data and Path(opts.data_root) == Path(opts.results) / EXAMPLE_DATA:
            write_examples(data_names(select(every, opts)), Path(opts.data_root))
        check_data(every, opts)  # done runs too: a result is not vouched for by data that cannot be read
    run_specs(plan.specs, opts, on_finish=report, name=plan.suite)
    if opts.executor != "slurm":
        final = Counter(st.status for st in states(with_teachers(plan.specs), opts).values())
        print(sweep_summary(ended, final, time.monotonic() - started), file=sys.stderr)


def outcome(plan: Plan, opts: Execution) -> tuple[int, str]:
    """(exit code, verdict line): 0 when every planned run is done, else 1."""
    store = Store(opts.results)
    known = states(with_teachers(plan.specs), opts)
    logs = {}
    for run_id, st in known.items():
        if st.status == FAILED:
            try:
                log = store.artefact(run_id, "error.log")
            except FileNotFoundError:
                continue
            if log.exists():
                logs[run_id] = str(log)
    labels = {j.spec.run_id: j.label for j in plan.runs}
    labels.update({s.run_id: s.method for s in with_teachers(plan.specs) if s.run_id not in labels})
    return (0 if all(st.status == DONE for st in known.values()) else 1), outcome_line(labels, known, logs)


def data_root_for(plan: Plan, given: str | None, results: str) -> str:
    """The data root a sweep reads: the one given, else, for a profile that runs on
    generated examples, their folder inside the results folder, else the default."""
    if given:
        return given
    return str(Path(results) / EXAMPLE_DATA) if plan.example_data else str(default_data_root())


def aggregate_suite(plan: Plan, opts: Execution, out_dir: Path, command: str | None = None) -> str:
    """Write tables, report and figures for ``plan``; return the terminal summary. Nothing is
    rebuilt when nothing they are made of changed since the last time (bench.results.manifest)."""
    from bench.results.manifest import cached_summary, inputs_key, save_manifest
    from bench.results.provenance import code_version

    store = Store(opts.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_tmp(out_dir)
    known = states(with_teachers(plan.specs), opts)
    command = command or "python " + " ".join(shlex.quote(a) for a in sys.argv)
    key = inputs_key(plan, known, store, command, code_version())
    summary = cached_summary(out_dir, key)
    if summary is None:
        summary = build_outputs(plan, store, known, out_dir, command)
        save_manifest(out_dir, key, summary)
    return summary


def build_outputs(plan: Plan, store: Store, known: dict, out_dir: Path, command: str) -> str:
    """Tables, report and figures of ``plan`` written to ``out_dir``; the terminal summary."""
    from bench.report.tables import cell_texts, to_markdown, write_tables  # here: pandas, scipy and matplotlib
    from bench.report.figures import plot_curves                                # load in ~2 s that --list and
    from bench.report.markdown import render_report                             # --dry-run do not need

    results, frame = write_tables(plan, store, out_dir, known)
    figures = plot_curves(plan, store, frame, out_dir)
    write_report(out_dir / "report.md", render_report(plan, results, frame, figures, command, out_dir))
    parts = [f"note: {note}" for note in plan.notes]
    for r in results:
        parts += [f"{r.table.id} ({r.table.metric_names}):", to_markdown(cell_texts(r))]
        parts += [f"  claim {v.claim.described}: {v.verdict}" for v in r.verdicts]
    skipped = {r: st for r, st in known.items() if st.status in (STALE, CORRUPT)}
    if skipped:
        parts.append(f"{len(skipped)} run(s) not counted ({', '.join(sorted({st.status for st in skipped.values()}))}"
                     "): see --status")
    parts.append(f"{'tables, report and figures' if figures else 'tables and report'} in {out_dir}/")
    return "\n".join(parts)


def write_report(path: Path, text: str) -> None:
    """Rewrite ``path`` only when more than its date line changed: a rerun that finds the same
    numbers leaves a committed report untouched."""
    from bench.report.markdown import DATE_LINE

    undated = lambda t: [line for line in t.splitlines() if not line.startswith(DATE_LINE)]  # noqa: E731
    if path.exists() and undated(path.read_text()) == undated(text):
        return
    atomic_write_text(path, text)


def default_tables_dir(plan: Plan, datasets: list[str] | None, results: str) -> Path:
    """``<results>/tables/<suite>[_<profile>][_<datasets>]``: beside the runs, git-ignored, so a
    user's sweep never overwrites the evidence committed under ``tables/``."""
    name = file_name(plan.suite) + ("" if plan.profile == "quick" else f"_{plan.profile}")
    if datasets:
        name += "_" + "_".join(map(file_name, datasets))
    return Path(results) / "tables" / name
