"""What run_all.py calls: list, dry-run, run, status and aggregate a suite."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from bench.aggregate import cell_texts, collect, to_markdown, write_tables
from bench.data.base import load_raw
from bench.grid import Plan, load_plan, suite_names, suite_path, read_yaml
from bench.plots import plot_curves
from bench.registry import DATASETS, METHODS, load_plugins
from bench.report import render_report
from bench.scheduler import Options, phases, run_specs, select, with_teachers
from bench.spec import RunSpec
from bench.store import DONE, FAILED, PARTIAL, TODO, Store, atomic_write_text

load_plugins()


def list_text() -> str:
    lines = ["Suites:"]
    for name in suite_names():
        doc = read_yaml(suite_path(name))
        lines.append(f"  {name:<16} papers: {', '.join(doc.get('papers', []))}; "
                     f"profiles: {', '.join(doc.get('profiles', {}))}")
    lines.append("Methods:")
    for e in METHODS.entries():
        lines.append(f"  {e.name:<16} family: {e.meta.get('family')}; paper: {e.meta.get('paper')}")
    lines.append("Datasets:")
    for e in DATASETS.entries():
        kind = "embedded" if e.meta.get("embedded") else "needs data"
        lines.append(f"  {e.name:<16} {kind:<11} looked for in: {e.meta.get('where')}")
    return "\n".join(lines)


def plan_for(suite: str, profile: str, datasets: list[str] | None = None,
             seeds: list[int] | None = None) -> Plan:
    return load_plan(suite, profile, datasets, seeds)


def dry_run_text(plan: Plan, opts: Options) -> str:
    store = Store(opts.results)
    specs = with_teachers(plan.specs)
    teachers, students = phases(specs)
    statuses = pd.Series([store.status(s.run_id) for s in specs]).value_counts().to_dict()
    todo = select(specs, store, opts.rerun, opts.retry_failed)
    grid = pd.DataFrame([{"experiment": j.experiment, "label": j.label, "dataset": j.spec.dataset,
                          "pair": j.pair, "status": store.status(j.spec.run_id)} for j in plan.jobs])
    counts = grid.groupby(["experiment", "label", "dataset", "pair"], sort=False)["status"].agg(
        runs="count", done=lambda s: int((s == DONE).sum())).reset_index()
    lines = [f"suite {plan.suite} ({plan.path}), profile {plan.profile}",
             f"{len(specs)} distinct runs: {len(teachers)} teachers, {len(students)} others; "
             + ", ".join(f"{k}: {statuses.get(k, 0)}" for k in (DONE, FAILED, PARTIAL, TODO)),
             f"to run now: {len(todo)} (executor {opts.executor})", "",
             counts.to_string(index=False), "", "teachers:"]
    for t in teachers:
        lines.append(f"  {t.run_id}  {t.dataset} {t.student} seed {t.seed}  [{store.status(t.run_id)}]")
    lines += ["", "estimated cost: " + estimate(store, specs, todo)]
    return "\n".join(lines)


def estimate(store: Store, specs: list[RunSpec], todo: list[RunSpec]) -> str:
    """Sum of the wall times of finished runs with the same method/dataset/config."""
    known: dict[tuple, list[float]] = {}
    for s in specs:
        summary = store.summary(s.run_id)
        if summary and summary.get("status") == DONE:
            known.setdefault((s.method, s.dataset, s.params), []).append(float(summary["wall_time_s"]))
    total, unknown = 0.0, 0
    for s in todo:
        times = known.get((s.method, s.dataset, s.params))
        if times:
            total += sum(times) / len(times)
        else:
            unknown += 1
    if not todo:
        return "nothing to run"
    timed = len(todo) - unknown
    text = f"~{total / 60:.1f} min for {timed} run(s) timed by finished siblings" if timed else ""
    if unknown:
        text += ("; " if text else "") + f"{unknown} run(s) with no finished sibling to time them by"
    return text


def status_text(plan: Plan, opts: Options) -> str:
    frame = collect(plan, Store(opts.results))
    runs = frame.drop_duplicates("run_id")
    lines = [f"suite {plan.suite}, profile {plan.profile}: "
             + ", ".join(f"{k}: {v}" for k, v in runs["status"].value_counts().items())]
    for _, r in runs[runs["status"] == FAILED].iterrows():
        lines.append(f"  failed {r['run_id']} {r['label']} {r['dataset']} seed {r['seed']}: {r['error']}")
    return "\n".join(lines)


def run_suite(plan: Plan, opts: Options) -> None:
    store = Store(opts.results)
    labels = {j.spec.run_id: j.label for j in plan.jobs}

    def report(spec: RunSpec, status: str) -> None:
        summary = store.summary(spec.run_id) or {}
        metric = summary.get("acc_best")
        metric_text = f"acc_best={metric:.4f}" if isinstance(metric, float) and metric == metric else ""
        error = f" error: {summary.get('error')}" if status == FAILED else ""
        tqdm.write(f"[{status}] {labels.get(spec.run_id, spec.method):<8} {spec.dataset:<10} "
                   f"seed={spec.seed} {metric_text} {summary.get('wall_time_s', 0)}s "
                   f"({spec.run_id}){error}")

    opts.slurm = {**plan.slurm, **{k: v for k, v in opts.slurm.items() if v is not None}}
    if opts.executor != "slurm":  # on a cluster the data lives where the jobs run
        check_data(select(with_teachers(plan.specs), store, opts.rerun, opts.retry_failed), opts)
    run_specs(plan.specs, opts, on_finish=report)


def check_data(specs: list[RunSpec], opts: Options) -> None:
    """Load every dataset the pending runs need (their own and KD's alternatives) before
    any run starts, so missing data stops the sweep with a UserError (exit 2) up front."""
    names = {s.dataset for s in specs}
    names |= {str(s.config.get("transfer", "")).partition(":")[2] for s in specs} - {""}
    for name in sorted(names):
        load_raw(name, opts.data_root, opts.download)


def aggregate_suite(plan: Plan, opts: Options, out_dir: Path, command: str | None = None) -> str:
    """Write tables, report and figures for ``plan``; return the terminal summary."""
    store = Store(opts.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, frame = write_tables(plan, store, out_dir)
    figures = plot_curves(plan, store, frame, out_dir)
    command = command or "python " + " ".join(shlex.quote(a) for a in sys.argv)
    atomic_write_text(out_dir / "report.md", render_report(plan, results, frame, figures, command, out_dir))
    parts = []
    for r in results:
        parts += [f"{r.table.id} ({r.table.metric}):", to_markdown(cell_texts(r))]
        parts += [f"  claim {v.claim.text}: {v.verdict}" for v in r.verdicts]
    parts.append(f"tables, report and figures in {out_dir}/")
    return "\n".join(parts)


def default_tables_dir(plan: Plan, datasets: list[str] | None) -> Path:
    name = plan.suite if plan.profile == "quick" else f"{plan.suite}_{plan.profile}"
    if datasets:
        name += "_" + "_".join(datasets)
    return Path("tables") / name
