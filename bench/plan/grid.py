"""Suite YAML -> a validated plan: the planned runs of one profile, its tables and claims.

Everything is checked before any run starts: unknown keys, methods, datasets, nets,
profiles and method parameters stop with a UserError naming the file, the key and the
accepted values. The pieces: the file's schema (``schema``), the profile (``profile``),
each run's parameter layers (``layers``), the expansion into runs (``expand``), and the
tables and claims (``tables``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import AUTO, parse_threads
from bench.errors import UserError
from bench.plan.expand import Expander, PlannedRun, Variant, check_figure, check_pair_names, experiment_sizes, \
    select_pairs
from bench.plan.layers import Layers, parse_overrides, sweep
from bench.plan.profile import Profile, all_pair_names, read_profile, written_sizes
from bench.plan.schema import (BUDGETS_FROM, EXPERIMENT_KEYS, PROFILES, TOP_KEYS, as_list, check_keys,
                               check_slurm, in_profile, per_profile, read_yaml, suite_names, suite_path)
from bench.plan.tables import Table, read_claims, read_tables
from bench.spec import RunSpec

__all__ = ["Plan", "PlannedRun", "Table", "load_plan", "read_yaml", "suite_names", "suite_path"]


@dataclass
class Plan:
    """A suite expanded for one profile: jobs, tables, claims and settings."""

    suite: str
    profile: str
    path: Path
    papers: list[str]
    runs: list[PlannedRun]
    tables: list[Table]
    claims: list[dict[str, str]]
    slurm: dict[str, Any] = field(default_factory=dict)
    matches_paper: bool = False
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    departures: list[str] = field(default_factory=list)
    """Known departures from the papers in this profile (listed in the report)."""
    choices: list[str] = field(default_factory=list)
    """Settings the papers leave open, and what this profile uses (listed in the report)."""
    notes: list[str] = field(default_factory=list)
    """What a reader must know about how this plan differs from the profile as written (a
    dataset override running on budgets set for another dataset)."""
    threads: int | str = AUTO
    """The profile's torch threads per run (``threads:``; ``--threads`` overrides it)."""
    example_data: bool = False
    """The profile runs on generated folders in the datasets' layouts (bench/data/examples.py)
    unless ``--data-root`` names real ones."""
    overrides: list[str] = field(default_factory=list)
    """The ``--set METHOD.KEY=VALUE`` items this plan was loaded with (a cell whose runs they
    touch is not comparable to the paper)."""

    @property
    def specs(self) -> list[RunSpec]:
        seen: dict[str, RunSpec] = {}
        for run in self.runs:
            seen.setdefault(run.spec.run_id, run.spec)
        return list(seen.values())


def load_plan(suite: str, profile: str = "quick", datasets: list[str] | None = None,
              seeds: list[int] | None = None, n_train: list[int] | None = None,
              overrides: list[str] | None = None, only: list[str] | None = None) -> Plan:
    """Read, validate and expand ``suite`` for ``profile`` (with optional CLI overrides:
    datasets, seeds, training-set sizes, ``--set`` method parameters, and ``only`` the
    named experiments)."""
    cli = parse_overrides(overrides)
    path = suite_path(suite)
    doc = {k: v for k, v in read_yaml(path).items() if not str(k).startswith("x-")}  # anchor holders
    doc = check_keys(doc, TOP_KEYS, f"{path}: suite", ("name", "profiles", "experiments"))
    profiles = check_keys(doc["profiles"], set(PROFILES), f"{path}: profiles")
    prof = read_profile(path, profiles, profile, datasets, seeds, n_train)
    expander = Expander(prof, Layers(prof, cli, bool(prof.body.get("matches_paper", False))))
    experiments, runs = expand_experiments(doc, path, prof, expander, all_pair_names(profiles), only)
    tables = read_tables(doc.get("tables", []), experiments, path)
    claims = read_claims(doc.get("claims", []), tables, experiments, path, all_pair_names(profiles))
    slurm = check_slurm(doc.get("slurm", {}), f"{path}: slurm")
    departures, choices = ([str(x) for x in as_list(prof.body[key], f"{prof.where}.{key}")] if key in prof.body
                           else [] for key in ("departures", "choices"))
    departures += [f"set on the command line: --set {item}" for item in overrides or []]
    return Plan(doc["name"], profile, path, list(doc.get("papers", [])), runs, tables, claims, slurm,
                prof.matches_paper(written_sizes(prof.body)), experiments, departures, choices,
                borrowed_budgets(prof, path), parse_threads(prof.body.get("threads"), f"{prof.where}.threads"),
                bool(prof.body.get("example_data", False)), list(overrides or []))


def expand_experiments(doc: dict, path: Path, prof: Profile, expander: Expander, pair_names: set[str],
                       only: list[str] | None) -> tuple[dict[str, dict], list[PlannedRun]]:
    """Every experiment checked; those asked for (``only``, default all) expanded into runs."""
    experiments: dict[str, dict] = {}
    runs: list[PlannedRun] = []
    for i, exp in enumerate(as_list(doc["experiments"], f"{path}: experiments")):
        where = f"{path}: experiments[{i}]"
        check_keys(exp, EXPERIMENT_KEYS, where, ("id", "methods"))
        if exp["id"] in experiments:
            raise UserError(f"{where}.id: experiment id {exp['id']!r} is used twice; ids must be unique")
        experiments[exp["id"]] = exp
        check_figure(exp.get("figure"), f"{where}.figure")
        check_pair_names(exp.get("pairs"), pair_names, f"{where}.pairs")
        sizes = {ds: experiment_sizes(exp, ds, prof.name, prof.sizes[ds], f"{where}.n_train") for ds in prof.datasets}
        exp_datasets = [d for d in prof.datasets
                        if d in per_profile(exp.get("datasets", prof.datasets), prof.name, f"{where}.datasets")]
        if (only and exp["id"] not in only) or not exp_datasets:
            continue  # validated, not expanded: not asked for, or none of its datasets was
        for j, body in enumerate(as_list(exp["methods"], f"{where}.methods")):
            variant = Variant.read(body, f"{where}.methods[{j}]", pair_names)
            if in_profile(body, prof.name, variant.where) and in_profile(exp, prof.name, where):
                runs += variant_runs(variant, exp, exp_datasets, sizes, prof, expander, where)
    unknown = sorted(set(only or []) - set(experiments))
    if unknown:
        raise UserError(f"--experiment: unknown experiment(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(experiments)}")
    empty = [e for e in dict.fromkeys(only or []) if not any(r.experiment == e for r in runs)]
    if empty:
        raise UserError("--experiment: " + "; ".join(f"{e!r} has no runs in profile {prof.name!r}: "
                                                     f"{why_no_runs(experiments[e], prof)}" for e in empty))
    return experiments, runs


def why_no_runs(exp: dict, prof: Profile) -> str:
    """What keeps an asked-for experiment out of this profile's grid, and what to change."""
    if not in_profile(exp, prof.name, exp["id"]):
        return f"it runs in profile(s) {', '.join(exp['profiles'])} only (--profile)"
    wanted = per_profile(exp.get("datasets", prof.datasets), prof.name, exp["id"])
    if not set(wanted) & set(prof.datasets):
        return (f"it runs on {', '.join(wanted)}, none of which is among the datasets asked for "
                f"({', '.join(prof.datasets)}); add --dataset {wanted[0]}")
    return "none of its methods runs in this profile or on these datasets and pairs"


def variant_runs(variant: Variant, exp: dict, exp_datasets: list[str], sizes: dict[str, list], prof: Profile,
                 expander: Expander, where: str) -> list[PlannedRun]:
    runs = []
    wanted = per_profile(variant.body.get("datasets", exp_datasets), prof.name, f"{variant.where}.datasets")
    for ds in [d for d in exp_datasets if d in wanted]:
        for pair in select_pairs(prof.pairs[ds], exp.get("pairs"), where):
            if "pairs" in variant.body and pair["name"] not in variant.body["pairs"]:
                continue  # e.g. MAD Table 1 prints DFAD for ResNet pairs only
            for label, swept in sweep(variant.label, variant.body, variant.where):
                runs += expander.runs(variant, label, swept, ds, pair, exp["id"], sizes[ds])
    return runs


def borrowed_budgets(prof: Profile, path: Path) -> list[str]:
    """A note per dataset that runs on budgets set for another dataset (the report says so)."""
    written_for = as_list(prof.body["datasets"], f"{prof.where}.datasets")
    ds_params = prof.dataset_params
    borrowed = {ds: ds_params[ds][BUDGETS_FROM] if BUDGETS_FROM in ds_params.get(ds, {}) else ", ".join(written_for)
                for ds in prof.datasets if BUDGETS_FROM in ds_params.get(ds, {})
                or (ds not in written_for and ds not in ds_params)}
    return [f"{ds}: the {prof.name} profile's budgets were set for {source}, not measured on {ds} ({path.name} "
            "gives it no settings of its own): a teacher may stop before it plateaus, a method before "
            "it converges" for ds, source in borrowed.items()]
