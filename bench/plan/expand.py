"""A suite's experiments expanded into planned runs: every variant x dataset x pair x
sweep value x seed x training-set size, with the runs each one starts from.

A method registered with ``needs_teacher`` gets its pair's teacher; one registered with
``pretrained=(roles...)`` starts from the nets of those roles, each made by the method that
declares it (``provides=(Role(...),)``): the planner knows roles, never methods.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.errors import UserError
from bench.nets.forests import is_estimator
from bench.plan.layers import Layers, sweep
from bench.plan.profile import Profile
from bench.plan.schema import FIGURE_KEYS, FIGURE_KINDS, PROFILES, VARIANT_KEYS, as_list, check_keys
from bench.registry import DATASETS, METHODS, Entry, Role
from bench.spec import RunSpec, freeze

TEACHER = "teacher"
"""The harness's supervised teacher, a method like any other (bench/families/teachers.py)."""


@dataclass(frozen=True)
class PlannedRun:
    """A run of the grid and where it appears: its experiment, row label and pair."""

    spec: RunSpec
    experiment: str
    label: str
    pair: str = ""


def producer(role: str, where: str) -> tuple[str, Role]:
    """The method that makes the nets of ``role``, and how."""
    for entry in METHODS.entries():
        for declared in entry.meta.get("provides", ()):
            if declared.name == role:
                return entry.name, declared
    known = sorted(r.name for e in METHODS.entries() for r in e.meta.get("provides", ()))
    raise UserError(f"{where}: unknown pretrained role {role!r}; accepted: {', '.join(known)}")


def row_labels(experiment: dict, where: str) -> set[str]:
    """The row labels an experiment's variants produce (sweeps included)."""
    return {lab for v in experiment["methods"]
            for lab, _ in sweep(v.get("label", METHODS.get(v["method"]).meta.get("label", v["method"])), v, where)}


def select_pairs(available: list[dict], wanted: list[str] | None, where: str) -> list[dict]:
    """The pairs an experiment runs on a dataset.

    Without ``pairs`` every pair of the dataset runs (MAD Table 1: ResNet and WRN). With
    it, ``pairs`` is an order of preference: the first name the dataset defines is used
    (MAD Table 2: WRN on CIFAR, ResNet on TinyImageNet); a dataset with a single pair uses it.
    """
    if not wanted or len(available) == 1:
        return available
    for name in wanted:
        chosen = [p for p in available if p["name"] == name]
        if chosen:
            return chosen
    raise UserError(f"{where}.pairs: none of {wanted} is defined for this dataset; "
                    f"defined: {', '.join(p['name'] for p in available)}")


def experiment_sizes(exp: dict, dataset: str, profile: str, sizes: list, where: str) -> list:
    """The training sizes an experiment runs on ``dataset``: the profile's, or those of
    them its ``n_train`` names, a list or a mapping from datasets / profiles / ``default``
    to lists (KDGAN Table 1: MNIST 100 / 1k / 10k, CIFAR-10 500 / 5k / 50k)."""
    wanted = exp.get("n_train")
    if isinstance(wanted, dict):
        check_keys(wanted, set(DATASETS.names()) | set(PROFILES) | {"default"}, where)
        wanted = next((wanted[k] for k in (dataset, profile, "default") if k in wanted), None)
    if wanted is None:
        return sizes
    return [n for n in sizes if n in as_list(wanted, where)]


def check_figure(figure: Any, where: str) -> None:
    if not isinstance(figure, dict):
        return
    check_keys(figure, FIGURE_KEYS, where)
    if figure.get("kind", "curves") not in FIGURE_KINDS:
        raise UserError(f"{where}.kind: unknown kind {figure['kind']!r}; accepted: {', '.join(FIGURE_KINDS)}")
    if figure.get("kind") == "scatter" and "x" not in figure:
        raise UserError(f"{where}: a scatter needs 'x', the summary column on its x-axis")


def check_pair_names(names: Any, defined: set[str], where: str) -> None:
    for name in names or []:
        if name not in defined:
            raise UserError(f"{where}: unknown pair {name!r}; defined: {', '.join(sorted(defined))}")


@dataclass(frozen=True)
class Variant:
    """One entry of an experiment's ``methods``, checked."""

    entry: Entry
    body: dict
    where: str

    @classmethod
    def read(cls, body: Any, where: str, pair_names: set[str]) -> Variant:
        check_keys(body, VARIANT_KEYS, where, ("method",))
        check_pair_names(body.get("pairs"), pair_names, f"{where}.pairs")
        entry = METHODS.get(body["method"], f"{where}.method")
        variant = cls(entry, body, where)
        if "sampler" in body and not (variant.params_key_of_a_role("sampler") and isinstance(body["sampler"], dict)):
            takes = "does" if variant.params_key_of_a_role("sampler") else "does not"
            raise UserError(f"{where}.sampler: a mapping of the params of the run this method samples from "
                            f"(e.g. {{class_only_epochs: 10}}); {entry.name!r} {takes} sample from one")
        return variant

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.entry.meta.get("pretrained", ()))

    def params_key_of_a_role(self, key: str) -> bool:
        return any(producer(r, self.where)[1].params_from == key for r in self.roles)

    @property
    def label(self) -> str:
        return self.body.get("label", self.entry.meta.get("label", self.entry.name))


@dataclass(frozen=True)
class Expander:
    """Turns (variant, dataset, pair) into planned runs for one profile."""

    profile: Profile
    layers: Layers

    def runs(self, variant: Variant, label: str, swept: dict, ds: str, pair: dict, exp_id: str,
             sizes: list) -> list[PlannedRun]:
        split = DATASETS.get(ds).meta.get("split") == "random"  # tabular: each seed its own train/test split
        if split and self.profile.teacher_seed is not None:
            raise UserError(f"{self.profile.where}.teacher_seed: dataset {ds!r} is split into train and test "
                            "rows by the run's seed, so a teacher of another seed would have trained on this "
                            "run's test rows; remove teacher_seed")
        method, out = variant.entry.name, []
        for seed in self.profile.seeds:
            t_seed = self.teacher_seed(seed)
            if method == TEACHER:
                out += [PlannedRun(self.teacher(variant, ds, t_seed, pair, n, split), exp_id, label, pair["name"])
                        for n in (sizes if split else [None])]
                continue
            for n in sizes:
                params = self.layers.resolve(method, variant.body.get("params", {}), ds, pair, variant.where,
                                             swept, n)
                teacher = self.teacher(variant, ds, t_seed, pair, n, split) \
                    if variant.entry.meta.get("needs_teacher") else None
                starts = tuple(sorted((role, self.role_run(role, variant, ds, seed, t_seed, pair, n, teacher))
                                      for role in variant.roles))
                spec = RunSpec(method, ds, seed, pair["student"], params, teacher, n, starts)
                out.append(PlannedRun(spec, exp_id, label, pair["name"]))
        return out

    def teacher_seed(self, seed: int) -> int:
        return seed if self.profile.teacher_seed is None else self.profile.teacher_seed

    def teacher(self, variant: Variant, ds: str, t_seed: int, pair: dict, n: int | None, split: bool) -> RunSpec:
        """The pair's teacher: trained by the producer of a role whose methods take their
        teacher from it (every player pretrained on the same n), else by the supervised
        teacher; a forest is fitted and has no recipe; tabular teachers see the run's rows only."""
        for role in variant.roles:
            name, declared = producer(role, variant.where)
            if declared.trains_teacher:
                return self.made_by(name, ds, t_seed, pair["teacher"], pair, n)
        recipe = () if is_estimator(pair["teacher"]) else self.layers.resolve(
            TEACHER, {}, ds, pair, f"{self.profile.where}.params.{TEACHER}", arch=pair["teacher"])
        return RunSpec(TEACHER, ds, t_seed, pair["teacher"], recipe, n_train=n if split else None)

    def made_by(self, method: str, ds: str, seed: int, arch: str, pair: dict, n: int | None,
                teacher: RunSpec | None = None, params_of: tuple[dict, str] | None = None) -> RunSpec:
        swept, swept_where = params_of or (None, None)
        params = self.layers.resolve(method, {}, ds, pair, f"{self.profile.where}.params.{method}", swept=swept,
                                     n=n, arch=arch, swept_where=swept_where)
        return RunSpec(method, ds, seed, arch, params, teacher, n)

    def role_run(self, role: str, variant: Variant, ds: str, seed: int, t_seed: int, pair: dict,
                 n: int | None, teacher: RunSpec | None) -> RunSpec:
        method, declared = producer(role, variant.where)
        arch = next((pair[k] for k in declared.arch if k in pair), None)
        if arch is None:
            raise UserError(f"{pair['where']}: the pair has no {' or '.join(map(repr, declared.arch))} net, which "
                            f"{variant.entry.name!r} starts from (its {role!r}, made by {method!r})")
        run_seed = (t_seed if declared.teacher_seed else seed) + declared.seed_offset
        params_of = ((variant.body.get(declared.params_from) or {}, f"{variant.where}.{declared.params_from}")
                     if declared.params_from else None)
        spec = self.made_by(method, ds, run_seed, arch, pair, n, teacher if declared.with_teacher else None,
                            params_of)
        base = dict(declared.starts_from)
        if not base or all(dict(spec.params).get(k) == v for k, v in base.items()):
            return spec
        start = RunSpec(method, ds, run_seed, arch, freeze({**dict(spec.params), **base}), spec.teacher, n)
        return RunSpec(method, ds, run_seed, arch, spec.params, spec.teacher, n, pretrained=(("init", start),))
