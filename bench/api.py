"""What run_all.py calls: list, dry-run, run, status and aggregate a suite."""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from bench.data.base import default_data_root, load_raw
from bench.data.examples import write_examples
from bench.plan.grid import Plan, load_plan, suite_names, suite_path, read_yaml
from bench.registry import DATASETS, METHODS, load_plugins
from bench.results.states import QUEUED, RUNNING, STALE, STATES
from bench.context import checkpoint_seconds_from_env
from bench.errors import UserError
from bench.nets.weights import pretrained_file, weights_file
from bench.run.execution import Execution
from bench.run.scheduler import levels, phases, run_specs, select, slurm_parameters, states, with_teachers
from bench.run.slurm import arrays_by_resources, with_cli
from bench.spec import RunSpec
from bench.results.store import Store, atomic_write_text, clean_tmp
from bench.results.states import CORRUPT, DONE, FAILED, PARTIAL
from bench.config import AUTO
from bench.run.threads import threads_for

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


def text_table(rows: list[dict]) -> str:
    """Rows as right-aligned columns under their keys (pandas' to_string without pandas,
    which --dry-run does not load)."""
    keys = list(rows[0])
    cols = [[str(k)] + [str(r[k]) for r in rows] for k in keys]
    widths = [max(map(len, col)) for col in cols]
    return "\n".join(" ".join(col[i].rjust(w) for col, w in zip(cols, widths)) for i in range(len(rows) + 1))


def state_lines(specs: list[RunSpec], known: dict, shown: tuple[str, ...]) -> list[str]:
    """One line per run in one of the ``shown`` states, with its reason."""
    lines = []
    for s in specs:
        st = known[s.run_id]
        if st.status in shown:
            lines.append(f"  {st.status:<8} {s.run_id} {s.method} {s.dataset} seed {s.seed}"
                         + (f": {st.reason}" if st.reason else ""))
    return [""] + lines if lines else []


def jobs_for(opts: Execution):
    """SLURM job records of the results dir, when a scheduler can be asked about them."""
    from bench.run.slurm import Jobs

    return Jobs(Store(opts.results))


def estimate(store: Store, specs: list[RunSpec], todo: list[RunSpec], opts: Execution | None = None,
             run_probes: bool = False) -> str:
    """Seconds the runs to do will take: the mean wall time of finished runs with the same
    method/dataset/config, else a probe of the configuration on this machine (bench/run/probe.py:
    cached ones always; missing ones measured when ``run_probes``)."""
    known: dict[tuple, list[float]] = {}
    for s in specs:
        summary = store.summary(s.run_id)
        if summary and summary.get("status") == DONE:
            known.setdefault((s.method, s.dataset, s.params), []).append(float(summary["wall_time_s"]))
    if not todo:
        return "nothing to run"
    by_sibling, rest = 0.0, []
    for s in todo:
        times = known.get((s.method, s.dataset, s.params))
        if times:
            by_sibling += sum(times) / len(times)
        else:
            rest.append(s)
    parts = [f"~{hours(by_sibling)} for {len(todo) - len(rest)} run(s) timed by finished siblings"] if len(rest) < len(todo) else []
    if rest and opts is not None:
        parts += probe_estimate(rest, opts, run_probes)
    elif rest:
        parts.append(f"{len(rest)} run(s) with no finished sibling to time them by")
    return "; ".join(parts)


def probe_estimate(specs: list[RunSpec], opts: Execution, run_probes: bool) -> list[str]:
    """The probes' estimate for ``specs`` (one probe per distinct configuration)."""
    from bench.run.probe import cached_probe, configuration, probe_cached
    from bench.run.runner import pick_device

    device = str(pick_device(opts.device))
    configs: dict[tuple, list[RunSpec]] = {}  # one probe per spec-without-seed and thread count
    for s in specs:
        config = json.dumps(configuration(s), sort_keys=True, default=str)
        configs.setdefault((config, threads_for(opts.threads, s)), []).append(s)
    total, timed, missing, missing_configs, failed = 0.0, 0, 0, 0, []
    groups = list(configs.values())
    if not run_probes and not (Path(opts.results) / "probes").is_dir():  # nothing probed here yet: no
        groups, missing, missing_configs = [], len(specs), len(configs)   # code fingerprints to compute
    show = run_probes and sys.stderr.isatty()
    for group in tqdm(groups, desc="probes", unit="config", disable=not show):
        try:
            threads = threads_for(opts.threads, group[0])
            found = (probe_cached(group[0], opts.results, opts.data_root, threads, device) if run_probes
                     else cached_probe(opts.results, group[0], threads, device))
        except Exception as exc:  # NotProbeable, data errors, a method's own: the dry-run goes on
            failed.append(f"{group[0].method} on {group[0].dataset}: {type(exc).__name__}: {exc}")
            continue
        if found is None:
            missing, missing_configs = missing + len(group), missing_configs + 1
            continue
        total += found.estimate_s * len(group)
        timed += len(group)
    parts = []
    if timed:
        parts.append(f"~{hours(total)} for {timed} run(s) from probes on this machine ({device}, "
                     f"{threads_text(specs, opts.threads)}; steps x seconds per step + evaluations, no start-up or data loading)")
    if missing:
        parts.append(f"{missing} run(s) not probed yet (--probe times a few steps of each of their "
                     f"{missing_configs} configuration(s))")
    if failed:
        parts.append(f"{len(failed)} configuration(s) cannot be probed ({'; '.join(failed[:3])})")
    return parts


def threads_text(specs: list[RunSpec], requested: int | str) -> str:
    """'2 threads per run' / 'threads per run: auto (2 for 30 runs, 1 for 6)'."""
    if requested != AUTO:
        return f"{requested} thread(s) per run"
    counts = Counter(threads_for(requested, s) for s in specs)
    return "threads per run: auto (" + ", ".join(f"{n} for {k} run(s)" for n, k in sorted(counts.items(), reverse=True)) + ")"


def hours(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def status_text(plan: Plan, opts: Execution) -> str:
    specs = with_teachers(plan.specs)
    known = states(specs, opts, jobs_for(opts))
    counts = Counter(st.status for st in known.values())
    lines = [f"suite {plan.suite}, profile {plan.profile}: "
             + ", ".join(f"{k}: {counts[k]}" for k in STATES if counts.get(k))]
    lines += state_lines(specs, known, (FAILED, STALE, CORRUPT, RUNNING, QUEUED, PARTIAL))[1:]
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
        pending = select(with_teachers(plan.specs), opts)
        if plan.example_data and Path(opts.data_root) == Path(opts.results) / EXAMPLE_DATA:
            write_examples(data_names(pending), Path(opts.data_root))
        check_data(pending, opts)
    run_specs(plan.specs, opts, on_finish=report, name=plan.suite)
    if opts.executor != "slurm":
        print(sweep_summary(len(with_teachers(plan.specs)), ended, time.monotonic() - started),
              file=sys.stderr)


def sweep_summary(total: int, ended: dict[str, int], seconds: float) -> str:
    """One line: what this sweep trained, what it found done, what failed, how long it took."""
    ran = sum(ended.values())
    cached = total - ran
    if not ran:
        return f"{cached} run{'' if cached == 1 else 's'} already done, nothing to train"
    failed = ended.get(FAILED, 0)
    minutes, secs = divmod(round(seconds), 60)
    return (f"{ran} run(s) trained ({ran - failed} done, {failed} failed), {cached} already done; "
            f"{minutes}m{secs:02d}s")


def data_names(specs: list[RunSpec]) -> set[str]:
    """The datasets runs read: their own and KD's alternatives (``transfer: related:NAME``)."""
    names = {s.dataset for s in specs}
    return names | {str(s.config.get("transfer", "")).partition(":")[2] for s in specs} - {""}


def data_root_for(plan: Plan, given: str | None, results: str) -> str:
    """The data root a sweep reads: the one given, else, for a profile that runs on
    generated examples, their folder inside the results folder, else the default."""
    if given:
        return given
    return str(Path(results) / EXAMPLE_DATA) if plan.example_data else str(default_data_root())


def check_data(specs: list[RunSpec], opts: Execution) -> None:
    """Load every dataset the pending runs need (their own and KD's alternatives) before
    any run starts, so missing or damaged data, or a training-set size larger than the
    data, stops the sweep with a UserError (exit 2) up front; so do missing pretrained weights."""
    sizes = {name: len(load_raw(name, opts.data_root, opts.download).y_train) for name in sorted(data_names(specs))}
    for s in specs:
        if s.config.get("pretrained") is True:  # online nets from published weights: on disk, not fetched
            for arch in s.config.get("nets") or (s.student,):
                pretrained_file(arch)
        if s.config.get("weights"):  # a teacher loaded, not trained
            weights_file(str(s.config["weights"]), s.student, f"{s.method} run on {s.dataset}")
        pooled = DATASETS.get(s.dataset).meta.get("split") == "random"  # tabular: the rest of the pool is the test set
        if s.n_train is not None and s.n_train >= sizes[s.dataset] + (0 if pooled else 1):
            raise UserError(f"n_train={s.n_train} is larger than {s.dataset}'s training set "
                            f"({sizes[s.dataset]} {'rows, some of which must be left to test on' if pooled else 'images'}) "
                            f"in {opts.data_root}")


def check_device(name: str) -> None:
    """An unknown or absent device is an error before any run starts."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name!r} is not a torch device; accepted: cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name}: only {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {name}: device type {device.type!r} is not supported; use cpu, cuda or mps")


def check_paths(opts: Execution, out_dir: Path, writes: bool, tables: bool) -> None:
    """The results dir (and the tables dir when this command writes tables) must be usable."""
    places = [("--results-dir", Path(opts.results))] + ([("--tables-dir", out_dir)] if tables else [])
    for flag, path in places:
        if path.exists() and not path.is_dir():
            raise UserError(f"{flag} {path} is a file, not a directory; pass a directory")
        if not writes:
            continue
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".write-probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"{flag} {path} is not writable ({exc.strerror or exc}); "
                            "pass a directory you can write to") from None


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
        parts += [f"  claim {v.claim.text}: {v.verdict}" for v in r.verdicts]
    skipped = {r: st for r, st in known.items() if st.status in (STALE, CORRUPT)}
    if skipped:
        parts.append(f"{len(skipped)} run(s) not counted ({', '.join(sorted({st.status for st in skipped.values()}))}"
                     "): see --status")
    parts.append(f"tables, report and figures in {out_dir}/")
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
    name = plan.suite if plan.profile == "quick" else f"{plan.suite}_{plan.profile}"
    if datasets:
        name += "_" + "_".join(datasets)
    return Path(results) / "tables" / name
